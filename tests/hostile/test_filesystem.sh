#!/bin/sh
# test_filesystem.sh: a candidate that tries to reach or change the host's files: file
# handles (the "shocker" escape), remounts, `..`, symlinks and hard links out of
# /workspace, device nodes, /proc/sys, /proc/sysrq-trigger, /sys; symlinks in the
# workspace aimed at host files for the supervisor to follow when it hashes the workspace,
# lists changed files, reads test reports, copies the workspace or writes the out dir;
# filling /tmp, /dev/shm and the scratch layer.
. "$(dirname "$0")/lib.sh"
require_root

plan 190

SECRET=$(new_tmp secret)
marker="HOSTILE-SECRET-$(unique)"
printf '%s\n' "$marker" >"$SECRET/secret.txt"
cat >"$SECRET/junit.xml" <<'EOF'
<testsuite name="forged" tests="5" failures="0"><testcase name="a"/><testcase name="b"/><testcase name="c"/><testcase name="d"/><testcase name="e"/></testsuite>
EOF
chmod -R a+rX "$SECRET"

# ---- file handles, remounts, chroot, device nodes ------------------------------------------

J=$(hjob fsys '{"version":1,"name":"fsys","workspace":"ws","steps":[
 {"name":"fsys","run":["./attack","syscalls","open_by_handle_at","name_to_handle_at","remount_root_rw",
  "remount_usr_rw","umount_proc_sys","chroot","pivot_root","mknod_char","mknod_block","mknod_fifo"]}]}')
hrun "$J"
check_survival 1 "shocker"
log=$(cat "$J/out/logs/fsys.stdout")
for s in open_by_handle_at name_to_handle_at remount_root_rw remount_usr_rw umount_proc_sys chroot pivot_root; do
	like "$log" "^$s EPERM$" "$s: refused"
done
like "$log" "^mknod_char EPERM$" "mknod of a character device: refused (no CAP_MKNOD)"
like "$log" "^mknod_block EPERM$" "mknod of a block device: refused"
like "$log" "^mknod_fifo OK$" "control: mknod of a FIFO works"
is "$(step '["status"]')" violation "shocker: the step's status is violation"
is "$(step '["violations"]' | "$PY" -c 'import json, sys; print(sorted({v["syscall"] for v in json.load(sys.stdin)}))')" \
	"['chroot', 'mount', 'name_to_handle_at', 'open_by_handle_at', 'pivot_root', 'umount2']" \
	"shocker: the file-handle, mount, umount, chroot and pivot_root calls are named"
check_contained "$J" "shocker"

# ---- /proc/sys, sysrq, /sys, kcore ---------------------------------------------------------

core_before=$(cat /proc/sys/kernel/core_pattern)
J=$(hjob procsys '{"version":1,"name":"procsys","workspace":"ws","steps":[
 {"name":"procsys","run":"./attack rewrite /proc/sys/kernel/core_pattern /proc/sys/vm/overcommit_memory /proc/sys/kernel/hostname /proc/sysrq-trigger /sys/kernel/uevent_helper /sys/fs/cgroup/cgroup.procs /proc/1/root/etc/passwd; ./attack read /proc/kcore /proc/1/root/etc/hostname; test -e /sys && echo sys-present || echo sys-absent"}]}')
hrun "$J"
check_survival 0 "proc/sys"
log=$(cat "$J/out/logs/procsys.stdout")
like "$log" "^/proc/sys/kernel/core_pattern (EROFS|EACCES)$" "/proc/sys/kernel/core_pattern cannot be written (the classic escape through the core helper)"
like "$log" "^/proc/sys/vm/overcommit_memory (EROFS|EACCES)$" "/proc/sys/vm cannot be written"
like "$log" "^/proc/sys/kernel/hostname (EROFS|EACCES)$" "/proc/sys/kernel/hostname cannot be written"
if [ -e /proc/sysrq-trigger ]; then
	like "$log" "^/proc/sysrq-trigger (EACCES|EPERM|EROFS)$" "/proc/sysrq-trigger cannot be opened for writing"
else
	like "$log" "^/proc/sysrq-trigger ENOENT$" "/proc/sysrq-trigger cannot be opened for writing (this kernel has none)"
fi
like "$log" "^/sys/kernel/uevent_helper ENOENT$" "/sys/kernel/uevent_helper does not exist inside"
like "$log" "^/sys/fs/cgroup/cgroup.procs ENOENT$" "the cgroup filesystem is not there to write"
like "$log" "^sys-absent$" "/sys is not mounted at all"
like "$log" "^/proc/1/root/etc/passwd (EACCES|EPERM)$" "init's root cannot be reached through /proc/1/root"
if [ -e /proc/kcore ]; then
	like "$log" "^/proc/kcore (EACCES|EPERM)$" "/proc/kcore cannot be read"
else
	like "$log" "^/proc/kcore ENOENT$" "/proc/kcore cannot be read (this kernel has none)"
fi
is "$(cat /proc/sys/kernel/core_pattern)" "$core_before" "proc/sys: the host's core_pattern is unchanged"
check_contained "$J" "proc/sys"

# ---- .., symlinks and hard links from inside -----------------------------------------------

J=$(hjob escape '{"version":1,"name":"escape","workspace":"ws","steps":[{"name":"escape","run":["./attack","escape"]}]}')
hrun "$J"
check_survival 0 "escape"
log=$(cat "$J/out/logs/escape.stdout")
like "$log" "^dotdot cwd /$" "twenty '..' from /workspace end at the sandbox's root"
like "$log" "^dotdot shadow ENOENT$" "/workspace/../../../../../../etc/shadow does not exist"
like "$log" "^symlink follow ENOENT$" "a symlink to /etc/shadow resolves inside the sandbox, where there is none"
like "$log" "^hardlink passwd EXDEV$" "a hard link to /etc/passwd cannot be made (another mount)"
like "$log" "^hardlink tmp EXDEV$" "a hard link to the program itself across mounts cannot be made"
is "$(jget "$ST" '[(c["kind"], c["sha256"]) for c in d["predicate"]["changed_files"] if c["path"] == "to-shadow"]')" \
	"[[\"symlink\", \"$(printf '%s' /etc/shadow | sha256sum | cut -d' ' -f1)\"]]" \
	"changed_files records the symlink by the digest of its target text, not by what it points at"
check_contained "$J" "escape"

# ---- symlinks in the workspace, for the supervisor to follow --------------------------------

J=$(hjob planted '{"version":1,"name":"planted","workspace":"ws","steps":[
 {"name":"look","run":"cat leak leakdir/secret.txt; ls leakdir; true"},
 {"name":"report","run":"true","tests":{"format":"junit","path":"build/junit.xml","min":1}}]}')
ln -s "$SECRET/secret.txt" "$J/ws/leak"
ln -s "$SECRET" "$J/ws/leakdir"
mkdir "$J/ws/build"
ln -s "$SECRET/junit.xml" "$J/ws/build/junit.xml"
hrun "$J"
check_survival 1 "planted symlinks"
unlike "$(cat "$J/out/logs/look.stdout" "$J/out/logs/look.stderr")" "$marker" \
	"a symlink to a host file in the workspace does not reach it from inside"
is "$(jget "$ST" 'd["predicate"]["steps"][1]["status"]')" failed \
	"a pre-planted report symlinked to a host file does not make the test step pass"
like "$(jget "$ST" 'd["predicate"]["steps"][1]["tests"]["unusable"]')" "not written by this step|symlink" \
	"and the verdict says why the report was not used"
is "$(grep -rl "$marker" "$J/out" | wc -l)" 0 "planted symlinks: the secret is nowhere in the out dir"
subject=$(jget "$ST" 'd["subject"][0]["digest"]["sha256"]')
is "$subject" "$("$PY" "$SHIPGATE_SOURCE_DIR/tests/tools/tree_digest.py" -x out "$J/ws" | cut -d' ' -f1)" \
	"the workspace digest is the reference digest, which hashes a symlink's text"
printf 'changed %s\n' "$marker" >"$SECRET/secret.txt"
printf '<testsuite tests="0"/>\n' >"$SECRET/junit.xml"
ok "the digest did not follow the links: changing their targets leaves verify --workspace valid" \
	"$SHIPGATE" verify "$J/out/verdict.dsse.json" --workspace "$J/ws" -q
printf '%s\n' "$marker" >"$SECRET/secret.txt"
check_contained "$J" "planted symlinks"

# the step itself makes the report a symlink, in the workspace and in the results channel
J=$(hjob reportlink '{"version":1,"name":"reportlink","workspace":"ws","steps":[
 {"name":"ws","run":"mkdir -p build && ln -sf '"$SECRET"'/junit.xml build/junit.xml","tests":{"format":"junit","path":"build/junit.xml","min":1}}]}')
hrun "$J"
check_survival 1 "report symlink"
like "$(step '["tests"]["unusable"]')" "symlink" "a report the step made a symlink to a host file is refused as a symlink"
is "$(step '["tests"]["total"]')" 0 "and none of the host file's tests is counted"
J=$(hjob resultslink '{"version":1,"name":"resultslink","workspace":"ws","steps":[
 {"name":"res","run":"ln -s '"$SECRET"'/junit.xml \"$SHIPGATE_RESULTS/junit.xml\"","tests":{"format":"junit","path":"$SHIPGATE_RESULTS/junit.xml","min":1}}]}')
hrun "$J"
check_survival 1 "results symlink"
like "$(step '["tests"]["unusable"]')" "symlink" "a results-channel report that is a symlink is refused"
check_contained "$J" "report symlinks"

# ---- the out dir, planted in a workspace that is the job directory --------------------------

VICTIM=$(new_tmp victim)
J=$(new_tmp outdir)
cp "$SHIPGATE_ATTACK" "$J/attack"
printf '%s\n' '{"version":1,"name":"outdir","workspace":".","steps":[{"name":"s","run":"echo candidate-output"}]}' >"$J/job.json"
mkdir "$J/shipgate-out"
ln -s "$VICTIM" "$J/shipgate-out/trace"
ln -s "$VICTIM" "$J/shipgate-out/logs"
mkdir "$VICTIM/logs"
echo keep >"$VICTIM/logs/keep"
_sg_pid_run 60 run "$J/job.json"
ST=$J/shipgate-out/statement.json
check_survival 0 "out dir subdirs"
is "$(ls -A "$VICTIM") $(cat "$VICTIM/logs/keep")" "logs keep" \
	"out dir: trace/ and logs/ planted as symlinks are not followed (nothing written, nothing removed)"
ok "out dir: the trace is in the out dir itself" test -f "$J/shipgate-out/trace/s.jsonl" -a ! -L "$J/shipgate-out/trace"
rm -rf "$J/shipgate-out"
ln -s "$VICTIM" "$J/shipgate-out"
_sg_pid_run 60 run "$J/job.json"
is "$(ls -A "$VICTIM")" "logs" "out dir: a planted shipgate-out symlink is not written through"
is "$SG_RC" 2 "out dir: shipgate run refuses a symlinked out dir before running anything (exit 2)"
like "$SG_ERR" "shipgate-out.*symlink" "out dir: and says so"
_sg_pid_run 60 run "$J/job.json" --out "$J/shipgate-out/attempt-1"
is "$SG_RC:$(ls -A "$VICTIM")" "2:logs" "out dir: nor one below it (loop's shipgate-out/attempt-N)"
# decide keeps its ledger in .shipgate/ of the job directory
rm "$J/shipgate-out"
_sg_pid_run 60 run "$J/job.json"
ln -s "$VICTIM" "$J/.shipgate"
_sg_pid_run 60 decide "$J/shipgate-out/verdict.dsse.json"
is "$(ls -A "$VICTIM")" "logs" "ledger: decide does not append through a planted .shipgate symlink"
like "$SG_ERR" "ledger.*symlink" "ledger: and says so"
check_contained "$J" "out dir"

# ---- the copy fallback: a workspace where idmapped mounts are not possible ------------------

if is_root && command -v unshare >/dev/null; then
	C=$(new_tmp copy)
	O=$(new_tmp copyout)
	cat >"$TEST_TMP/copy.sh" <<EOF
set -e
mount -t ramfs ramfs "$C"
mkdir "$C/ws"
cp "$SHIPGATE_ATTACK" "$C/ws/attack"
ln -s "$SECRET/secret.txt" "$C/ws/leak"
ln -s "$SECRET" "$C/ws/leakdir"
mkfifo "$C/ws/fifo"
printf '%s\n' '{"version":1,"name":"copy","workspace":"ws","steps":[{"name":"look","run":"readlink leak; cat leak leakdir/secret.txt; ls -la; true"}]}' >"$C/job.json"
echo \$\$ >"$TEST_TMP/sg.pid"
exec "$SHIPGATE" run "$C/job.json" --out "$O/out"
EOF
	timeout -k 5 60 unshare -m sh "$TEST_TMP/copy.sh" </dev/null >"$TEST_TMP/sg.out" 2>"$TEST_TMP/sg.err"
	SG_RC=$?
	SG_PID=$(cat "$TEST_TMP/sg.pid")
	ST=$O/out/statement.json
	check_survival 0 "copy fallback"
	is "$(jget "$ST" 'd["predicate"]["enforced"]["workspace"]')" copy "copy fallback: a ramfs workspace is copied (no idmapped mounts there)"
	log=$(cat "$O/out/logs/look.stdout" "$O/out/logs/look.stderr")
	like "$log" "^$SECRET/secret.txt$" "copy fallback: the symlink is copied as a symlink"
	unlike "$log" "$marker" "copy fallback: the copy did not follow it to the host file"
	unlike "$log" " fifo$" "copy fallback: a FIFO is not copied (nor opened, which would block)"
	is "$(grep -rl "$marker" "$O/out" | wc -l)" 0 "copy fallback: the secret is nowhere in the out dir"
	check_contained "$C" "copy fallback"
else
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do skip "copy fallback ($i)" "needs root and unshare(1)"; done
fi

# ---- filling /tmp, /dev/shm, and memory through tmpfs ----------------------------------------

J=$(hjob fill '{"version":1,"name":"fill","workspace":"ws","limits":{"tmp_mb":16,"memory_mb":256},"steps":[
 {"name":"fill","run":"./attack fill /tmp/big 64; ./attack fill /dev/shm/big 128; df -m /tmp | tail -1"}]}')
hrun "$J"
check_survival 0 "fill /tmp"
log=$(cat "$J/out/logs/fill.stdout")
like "$log" "^fill 1[0-6] ENOSPC$" "/tmp (tmp_mb 16) stops the writer at about 16 MiB with ENOSPC"
like "$log" "^fill 6[0-4] ENOSPC$" "/dev/shm stops the writer at about 64 MiB with ENOSPC"
check_contained "$J" "fill /tmp"

if is_root; then
	J=$(hjob tmpoom '{"version":1,"name":"tmpoom","workspace":"ws","limits":{"tmp_mb":1024,"memory_mb":64},"steps":[
	 {"name":"fill","run":["./attack","fill","/tmp/big","512"]}]}')
	hrun "$J"
	check_survival 1 "/tmp past the memory limit"
	is "$(step '["status"]')" oom "a /tmp bigger than the memory limit: filling it is an OOM kill (tmpfs is charged to the step)"
	is "$(step '["limits_hit"]')" '["memory"]' "and limits_hit says memory"
else
	skip "/tmp past the memory limit: exit 1" "needs a memory cgroup (root)"
	skip "/tmp past the memory limit: statement" "needs a memory cgroup (root)"
	skip "/tmp past the memory limit: verdict" "needs a memory cgroup (root)"
	skip "/tmp past the memory limit: oom" "needs a memory cgroup (root)"
	skip "/tmp past the memory limit: limits_hit" "needs a memory cgroup (root)"
fi

# ---- a tree shaped to exhaust the supervisor after the step ------------------------------

# a sparse terabyte costs the step nothing; hashing it for changed_files would cost hours
J=$(hjob sparse '{"version":1,"name":"sparse","workspace":"ws","steps":[
 {"name":"sparse","run":"truncate -s 1T sparse && echo small >small"}]}')
t0=$(date +%s)
hrun "$J"
check_survival 0 "sparse file"
num "$(($(date +%s) - t0))" -lt 20 "sparse file: the run ends within seconds (the supervisor does not read a terabyte)"
is "$(jget "$ST" '[(c["path"], c["size"], c["sha256"]) for c in d["predicate"]["changed_files"] if c["path"] == "sparse"]')" \
	'[["sparse", 1099511627776, null]]' "sparse file: listed with its size, without a digest (past the hashing budget)"
is "$(jget "$ST" '[c["sha256"] for c in d["predicate"]["changed_files"] if c["path"] == "small"]')" \
	"[\"$(printf 'small\n' | sha256sum | cut -d' ' -f1)\"]" "sparse file: a small file beside it still has its digest"
check_contained "$J" "sparse file"

# 3000 nested directories: deeper than any stack or descriptor table of a recursive walk
deep='["python3","-c","import os\nfor i in range(3000):\n    os.mkdir(\"d\"); os.chdir(\"d\")\nopen(\"f\",\"w\").write(\"x\")"]'
J=$(hjob deep '{"version":1,"name":"deep","workspace":"ws","steps":[{"name":"deep","run":'"$deep"'}]}')
hrun "$J"
check_survival 0 "deep tree"
is "$(jget "$ST" '(len(d["predicate"]["changed_files"]) < d["predicate"]["changed_files_total"])')" true \
	"deep tree: changed_files lists what it could and says there was more (changed_files_total), not a crash"
check_contained "$J" "deep tree"
J=$(hjob deepprot '{"version":1,"name":"deepprot","workspace":"ws","protect":["tests/**"],"steps":[{"name":"deep","run":'"$deep"'}]}')
hrun "$J"
check_survival 1 "deep tree under protect"
is "$(step '["status"]')" violation "deep tree under protect: a tree too deep to check fails the step (closed), as the step's fault"
like "$(step '["reason"]')" "cannot be checked: .*deeper than" "deep tree under protect: the reason says why"

# a protected path hidden behind a hundred thousand other changes
hide='["python3","-c","import os\nos.mkdir(\"aaa\")\nfor i in range(100001):\n    os.close(os.open(\"aaa/%d\" % i, os.O_CREAT | os.O_WRONLY))\nos.mkdir(\"tests\")\nopen(\"tests/evil_test.py\",\"w\").write(\"x\")"]'
J=$(hjob hide '{"version":1,"name":"hide","workspace":"ws","protect":["tests/**"],"steps":[{"name":"hide","run":'"$hide"'}]}')
t0=$(date +%s)
hrun "$J"
check_survival 1 "hidden protected path"
is "$(step '["status"]')" violation "hidden protected path: found behind 100001 other files"
like "$(step '["reason"]')" "modified the protected path tests/evil_test.py" "hidden protected path: the reason names it"
num "$(($(date +%s) - t0))" -lt 60 "hidden protected path: in reasonable time"
check_contained "$J" "hidden protected path"
check_contained "$J" "deep tree under protect"

# ---- filling the scratch layer ----------------------------------------------------------------

# The copy-on-write layer lives in $TMPDIR (or /var/tmp) on the host's disk: limits.scratch_mb
# caps it (checked every second; the step is killed and says so), and a disk nearly full
# ends the step too, so a step cannot fill the host's disk.
avail_mb=$(df -Pm "$TMPDIR" | awk 'NR == 2 { print $4 }')
if [ "$avail_mb" -gt 8192 ]; then
	J=$(hjob scratch '{"version":1,"name":"scratch","workspace":"ws","limits":{"memory_mb":256,"tmp_mb":64,"scratch_mb":1024},"steps":[
	 {"name":"fill","run":"fallocate -l 4G big; echo fallocate=$?; sleep 30; echo survived"}]}')
	hrun "$J"
	check_survival 1 "scratch"
	is "$(step '["status"]')" failed "scratch: the step that filled the layer failed"
	like "$(step '["limits_hit"]')" scratch "scratch: limits_hit says scratch"
	like "$(step '["reason"]')" "limits.scratch_mb" "scratch: the reason names the limit"
	unlike "$(cat "$J/out/logs/fill.stdout")" survived "scratch: killed well before it could go on"
	check_contained "$J" "scratch"
	# the results channel of a test step is on the same disk and counts too
	J=$(hjob scratch-results '{"version":1,"name":"scratch-results","workspace":"ws","limits":{"memory_mb":256,"tmp_mb":64,"scratch_mb":256},"steps":[
	 {"name":"fill","run":"fallocate -l 2G \"$SHIPGATE_RESULTS/junit.xml\"; echo fallocate=$?; sleep 30; echo survived","tests":{"format":"junit","path":"$SHIPGATE_RESULTS/junit.xml"}}]}')
	hrun "$J"
	like "$(step '["limits_hit"]')" scratch "scratch: filling the results channel hits limits.scratch_mb too"
	unlike "$(cat "$J/out/logs/fill.stdout")" survived "scratch: the results channel's filler is killed"
else
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do skip "scratch ($i)" "less than 8 GiB free in $TMPDIR"; done
fi

# ---- a step quicker than the first check is measured when it ends -----------------------
# the first check comes at 1 s: three steps writing 150 MB each in a tenth of a second
# passed under a 20 MB limit (451 MB in the layer); the layer is measured again at each
# step's end, and the first of them fails
J=$(hjob quick '{"version":1,"name":"quick","workspace":"ws","limits":{"scratch_mb":20},"steps":[
 {"name":"w1","run":"dd if=/dev/zero of=w1 bs=1M count=60 2>/dev/null"},
 {"name":"w2","run":"dd if=/dev/zero of=w2 bs=1M count=60 2>/dev/null"}]}')
hrun "$J"
is "$(step '["status"]')" failed "a quick step over scratch_mb fails when it ends"
like "$(step '["limits_hit"]')" scratch "and limits_hit says scratch"
is "$SG_RC" 1 "and the job fails (exit 1)"

# ---- the layer is summed with the step frozen ---------------------------------------------
# A walk cannot measure a tree that changes under it: a step that moved a large directory
# from the part not yet walked to the part already walked (timed by the directories'
# access times) kept 500 MB under a 100 MB limit. The supervisor freezes the step's
# cgroup (cgroup.freeze, or v1's freezer) for each walk and thaws it after: a step of
# 2.5 s is frozen and thawed at least twice, and never left frozen.
J=$(hjob frozen '{"version":1,"name":"frozen","workspace":"ws","steps":[
 {"name":"w","run":"i=0; while [ $i -lt 25 ]; do echo $i > w$i; sleep 0.1; i=$((i+1)); done; echo walked"}]}')
(cd "$J" && HOME="$J" timeout -k 5 60 strace -f -qq -y -e trace=write -o "$J/st.txt" "$SHIPGATE" run -q \
	--out "$J/out" job.json </dev/null >/dev/null 2>&1)
freezes=$(grep -cE 'freezer\.state>, "FROZEN"|cgroup\.freeze>, "1"' "$J/st.txt")
thaws=$(grep -cE 'freezer\.state>, "THAWED"|cgroup\.freeze>, "0"' "$J/st.txt")
last=$(grep -E 'freezer\.state>|cgroup\.freeze>' "$J/st.txt" | tail -1)
ok "the step is frozen for each walk of its layer ($freezes freezes, $thaws thaws)" \
	sh -c '[ "$1" -ge 2 ] && [ "$1" -eq "$2" ]' _ "$freezes" "$thaws"
like "$last" 'THAWED|"0"' "and thawed after the last one"
like "$(cat "$J/out/logs/w.stdout" 2>/dev/null)" walked "and it ran to its end"

# ---- a mount's source swapped for a symlink between two steps ---------------------------
# The job's paths are resolved when it is read; each step mounts them again. A step that
# can write a directory on the way (a writable mount holding another mount's source, or
# the workspace) could swap it for a link to the host's / for the next step to mount,
# writable and idmapped to the sandbox's root. A writable mount holding the workspace or
# another mount is refused; a symlink that appears there anyway (another sandbox, the
# host) makes the next step's sandbox refuse to mount it.
J=$(hjob nested '{"version":1,"name":"nested","workspace":"ws","mounts":[{"source":"data","target":"/data","readonly":false},{"source":"data/sub","target":"/sub","readonly":false}],"steps":[{"name":"s","run":"true"}]}')
mkdir -p "$J/data/sub"
hrun "$J"
is "$SG_RC" 2 "a writable mount holding another mount's source: refused (exit 2)"
like "$SG_ERR" "mounts\[0\].source .* is writable and holds mounts\[1\].source" "and says which and why"
J=$(hjob nestws '{"version":1,"name":"nestws","workspace":"ws","mounts":[{"source":".","target":"/job","readonly":false}],"steps":[{"name":"s","run":"true"}]}')
hrun "$J"
is "$SG_RC" 2 "a writable mount holding the workspace: refused (exit 2)"
like "$SG_ERR" "holds the workspace" "and says why"
J=$(hjob swapped '{"version":1,"name":"swapped","workspace":"ws","mounts":[{"source":"data/sub","target":"/sub","readonly":true}],"steps":[{"name":"wait","run":"sleep 2"},{"name":"look","run":"cat /sub/hostname 2>&1; echo looked"}]}')
mkdir -p "$J/data/sub"
( sleep 1; mv "$J/data/sub" "$J/data/sub.orig" && ln -s /etc "$J/data/sub" ) &
swapper=$!
hrun "$J"
wait "$swapper"
is "$(jget "$ST" 'd["predicate"]["steps"][1]["status"]')" error \
	"a mount source swapped for a symlink to /etc during step 1: step 2 is not run in it (error)"
like "$(jget "$ST" 'd["predicate"]["steps"][1]["reason"]')" "symbolic link is in the path now" "and the reason says why"
unlike "$(cat "$J/out/logs/look.stdout" 2>/dev/null)" "$(cat /etc/hostname)" "the host's /etc/hostname was never shown"

# ... nor what shipgate itself writes as root between the steps: a writable mount holding
# the scratch dir ($TMPDIR: a step swapped the next step's layers for a link, and the
# runner chowned and wrote a host directory of its choosing), the out dir (the logs), or
# a rootfs directory (swapped for a link to /, the next step read the host's files)
J=$(hjob holdstmp '{"version":1,"name":"holdstmp","workspace":"ws","mounts":[{"source":"tmpd","target":"/tt","readonly":false}],"steps":[{"name":"s","run":"true"}]}')
mkdir -p "$J/tmpd"
TMPDIR=$J/tmpd hrun "$J"
is "$SG_RC" 2 "a writable mount holding \$TMPDIR (the run's scratch dir): refused (exit 2)"
like "$SG_ERR" "holds the run's scratch dir" "and says why"
J=$(hjob holdsout '{"version":1,"name":"holdsout","workspace":"ws","mounts":[{"source":"out","target":"/o","readonly":false}],"steps":[{"name":"s","run":"true"}]}')
mkdir -p "$J/out"
hrun "$J"
is "$SG_RC" 2 "a writable mount of the out dir: refused (exit 2)"
like "$SG_ERR" "the out dir" "and says why"
J=$(hjob holdsroot '{"version":1,"name":"holdsroot","workspace":"ws","rootfs":"data/rootfs","mounts":[{"source":"data","target":"/data","readonly":false}],"steps":[{"name":"s","run":"true"}]}')
mkdir -p "$J/data/rootfs"
hrun "$J"
is "$SG_RC" 2 "a writable mount holding the job's rootfs directory: refused (exit 2)"
like "$SG_ERR" "holds the rootfs" "and says why"

# a step's own policy is read once, before the first step: read again before its step, it
# was whatever an earlier step had written there through a writable mount (an allow-all
# file named "strict": the next step forked under "strict"), or a host file linked there
J=$(hjob polswap '{"version":1,"name":"polswap","workspace":"ws","mounts":[{"source":"data","target":"/data","readonly":false}],"steps":[{"name":"swap","run":"cp /workspace/evil.json /data/p.json && echo swapped"},{"name":"strictstep","policy":"data/p.json","run":["sh","-c","/bin/true & wait && echo forked-ok"]}]}')
mkdir -p "$J/data"
cp "$SHIPGATE_SOURCE_DIR/policies/strict.json" "$J/data/p.json"
"$PY" -c 'import json, sys
p = json.load(open(sys.argv[1])); p["name"] = "strict"; p["seccomp"]["defaultAction"] = "SCMP_ACT_ALLOW"
p["seccomp"].pop("defaultErrnoRet", None); print(json.dumps(p))' "$SHIPGATE_SOURCE_DIR/policies/default.json" >"$J/ws/evil.json"
hrun "$J"
like "$(cat "$J/out/logs/swap.stdout")" "^swapped$" "policy swap: step 1 rewrote the next step's policy file on the host"
unlike "$(cat "$J/out/logs/strictstep.stdout" 2>/dev/null)" "forked-ok" "policy swap: step 2 still ran under strict (no fork), the policy read before the first step"
is "$(jget "$ST" 'd["predicate"]["steps"][1]["policy"]["sha256"]')" \
	"$(sha256sum "$SHIPGATE_SOURCE_DIR/policies/strict.json" | cut -d' ' -f1)" "policy swap: the verdict names the policy that was in force"
# a mount's target below a writable mount's target: a step could make the way a link
J=$(hjob nesttarget '{"version":1,"name":"nesttarget","workspace":"ws","mounts":[{"source":"data","target":"/data","readonly":false},{"source":"ro","target":"/data/sub/x","readonly":true}],"steps":[{"name":"s","run":"true"}]}')
mkdir -p "$J/data" "$J/ro"
hrun "$J"
is "$SG_RC" 2 "a mount's target below a writable mount's target: refused (exit 2)"
like "$SG_ERR" "lies below mounts\[0\].target /data, which is writable" "and says why"

done_testing
