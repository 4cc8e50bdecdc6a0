#!/bin/sh
# test_exec_isolation.sh: what a command run by `shipgate exec` can see and do: its own
# pid namespace, a non-root host uid, a filtered read-only root, a writable workspace
# and /tmp, its own network, no capabilities, the seccomp policy, no nested sandbox.
# Every check looks at what the program inside observes or what the host's kernel shows.
. "$(dirname "$0")/lib.sh"

plan 88

WS=$(new_tmp ws)
cd "$WS" || exit 1
PROBE_DIR=$(new_tmp probe)
cp "$SHIPGATE_TRY_SYSCALL" "$PROBE_DIR/try_syscall"

# ---- pid namespace ---------------------------------------------------------------------

sg_exec -- sh -c 'echo "$$ $PPID"'
is "$SG_OUT" "2 1" "the command is pid 2, the child of pid 1, in its own pid namespace"

# a host process with a marker that exists nowhere else
marker="1000.$(unique)"
sleep "$marker" &
host_sleep=$!
track_pid $host_sleep
like "$(pids_with_arg "$marker")" "^$host_sleep\$" "control: the host sees its own 'sleep $marker'"
sg_exec -- sh -c 'for p in /proc/[0-9]*; do printf "%s: " "${p#/proc/}"; tr "\0" " " <"$p/cmdline"; echo; done'
is "$SG_RC" 0 "listing the processes inside works"
unlike "$SG_OUT" "sleep $marker" "the host's 'sleep $marker' is not visible inside"
is "$(printf '%s\n' "$SG_OUT" | cut -d: -f1 | tr '\n' ' ')" "1 2 " "inside, only pid 1 (init) and pid 2 (the command) exist"
kill "$host_sleep"
wait "$host_sleep" 2>/dev/null

# init starts the command in its own memory until the exec (CLONE_VM|CLONE_VFORK);
# afterwards init's memory is out of the command's reach. Two guards hold it, and this
# check passes while either does: init is not dumpable, and Landlock keeps a restricted
# process from tracing one outside its domain (with init made dumpable it still passes)
sg_exec -- sh -c 'for f in environ mem; do if cat /proc/1/$f >/dev/null 2>&1; then echo "$f readable"; else echo "$f denied"; fi; done; cat /proc/self/environ | tr "\0" "\n" | grep -c "^PATH="'
is "$(printf '%s\n' "$SG_OUT" | head -2 | tr '\n' ' ')" "environ denied mem denied " "init's environ and memory are out of the command's reach"
is "$(printf '%s\n' "$SG_OUT" | sed -n 3p)" "1" "control: a process of the command reads its own environ (one PATH)"

# every namespace is a new one: the kernel's namespace ids differ from the host's
sg_exec -- sh -c 'for n in user pid mnt net ipc uts cgroup; do echo "$n $(readlink /proc/self/ns/$n)"; done'
for n in user pid mnt net ipc uts cgroup; do
	inside=$(printf '%s\n' "$SG_OUT" | awk -v n="$n" '$1 == n { print $2 }')
	host=$(readlink "/proc/self/ns/$n")
	if [ -n "$inside" ] && [ "$inside" != "$host" ]; then
		pass "the command is in its own $n namespace ($inside, the host's is $host)"
	else
		fail "the command is in its own $n namespace" "inside: '$inside', host: '$host'"
	fi
done

# its cgroup namespace is rooted at the step's cgroup: init unshares it only once the
# supervisor has put it there (on v1, while init built the root). From the host, the
# command is in a cgroup of shipgate's; from inside, that cgroup is "/".
marker="3.$(unique)"
timeout -k 5 60 "$SHIPGATE" exec -- sh -c "cat /proc/self/cgroup; sleep $marker" >"$TEST_TMP/cg.out" 2>"$TEST_TMP/cg.err" </dev/null &
exec_pid=$!
track_pid $exec_pid
host_view=""
for _ in $(seq 50); do
	p=$(pids_with_arg "$marker" | while read -r q; do [ "$(cat /proc/$q/comm 2>/dev/null)" = sleep ] && echo "$q"; done | head -1)
	[ -n "$p" ] && host_view=$(cat "/proc/$p/cgroup") && break
	sleep 0.1
done
kill "$exec_pid" 2>/dev/null
wait "$exec_pid" 2>/dev/null
SG_OUT=$(cat "$TEST_TMP/cg.out")
like "$host_view" "shipgate/sg-[0-9]+-[0-9]+" "control: from the host, the command is in a step cgroup of shipgate's"
inside_not_root=$(printf '%s\n' "$SG_OUT" | grep -v ':/$' || true)
is "$inside_not_root" "" "inside, every hierarchy shows the command at the root of its cgroup namespace"

# ---- host uid --------------------------------------------------------------------------

if is_root; then
	want_uid=$(awk -F: '$1 == "shipgate" { print $2 }' /etc/subuid 2>/dev/null)
	[ -n "$want_uid" ] || want_uid=1000000000
else
	want_uid=$(id -u)
fi
dur="30.$(unique)"
"$SHIPGATE" exec -- sleep "$dur" </dev/null >/dev/null 2>"$TEST_TMP/uid.err" &
sg_pid=$!
track_pid $sg_pid
inner=$(wait_for_pid_with_args sleep "$dur")
if [ -n "$inner" ]; then
	pass "the sandboxed 'sleep $dur' is visible from the host (pid $inner)"
	uid_line=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$inner/status")
	is "$uid_line" "$want_uid $want_uid $want_uid $want_uid" \
		"its real, effective, saved and fs uid on the host are $want_uid, not 0"
	gid_line=$(awk '/^Gid:/ { print $2 }' "/proc/$inner/status")
	isnt "$gid_line" 0 "its gid on the host is not 0"
else
	fail "the sandboxed 'sleep $dur' is visible from the host" "no process with argv 'sleep $dur'" \
		"shipgate stderr: $(cat "$TEST_TMP/uid.err")"
	fail "its real, effective, saved and fs uid on the host are $want_uid, not 0" "no process"
	fail "its gid on the host is not 0" "no process"
fi
kill -TERM "$sg_pid"
wait_exit "$sg_pid" 5
isnt "$WAIT_RC" timeout "shipgate exits within 5 s of SIGTERM (took ${WAIT_MS} ms)"
case "$WAIT_RC" in
0 | timeout) fail "shipgate exits non-zero after SIGTERM" "exit status: $WAIT_RC" ;;
*) pass "shipgate exits non-zero after SIGTERM ($WAIT_RC)" ;;
esac
ok "no 'sleep $dur' is left on the host" gone_within 3 "$dur"

# ---- filesystem view -------------------------------------------------------------------

ok "control: the host has /etc/shadow, /home and /root" test -e /etc/shadow -a -e /home -a -e /root
sg_exec -- sh -c 'for f in /etc/shadow /home /root /etc/passwd /usr/bin/sh; do
	if [ -e "$f" ] || [ -L "$f" ]; then echo "$f present"; else echo "$f absent"; fi
done; cat /etc/shadow >/dev/null 2>&1 && echo "shadow readable"; exit 0'
like "$SG_OUT" "^/etc/shadow absent$" "/etc/shadow is absent inside"
unlike "$SG_OUT" "shadow readable" "/etc/shadow cannot be read inside"
like "$SG_OUT" "^/home absent$" "/home is absent inside"
like "$SG_OUT" "^/root absent$" "/root is absent inside"
like "$SG_OUT" "^/etc/passwd present$" "/etc/passwd is present inside"
like "$SG_OUT" "^/usr/bin/sh present$" "/usr/bin/sh is present inside"

probe_name=".sgit-write-$(unique)"
sg_exec -- sh -c 'for d in / /usr /etc /var /bin /workspace /tmp; do
	if echo data >"$d/'"$probe_name"'" 2>/dev/null; then echo "$d writable"; else echo "$d refused"; fi
done'
for d in / /usr /etc /var /bin; do
	like "$SG_OUT" "^$d refused$" "writing a file in $d fails inside"
	ok "and $d on the host has no such file" test ! -e "$d/$probe_name"
done
like "$SG_OUT" "^/workspace writable$" "writing in /workspace works"
is "$(cat "$WS/$probe_name" 2>&1)" data "what the command wrote in /workspace is in the host's workspace"
like "$SG_OUT" "^/tmp writable$" "writing in /tmp works"
ok "the sandbox's /tmp is not the host's /tmp" test ! -e "/tmp/$probe_name"
rm -f "$WS/$probe_name"

# ---- the workspace under --cow ---------------------------------------------------------

mkdir -p "$WS/sub/deeper"
printf 'alpha\n' >"$WS/a.txt"
printf 'bravo\n' >"$WS/b.txt"
printf '#!/bin/sh\necho c\n' >"$WS/c.sh"
chmod 755 "$WS/c.sh"
printf 'deep\n' >"$WS/sub/deeper/d.txt"
: >"$WS/empty"
ln -s a.txt "$WS/link"
before=$(tree_listing "$WS")
sg_exec --cow -- sh -c 'set -e
echo new >new.txt
echo more >>a.txt
rm b.txt
chmod 600 c.sh
rm -r sub
mkdir made
ln -sf b.txt link
echo changed >empty
cat a.txt new.txt; ls'
is "$SG_RC" 0 "--cow: the command writes, modifies and deletes files in /workspace"
like "$SG_OUT" "^more$" "--cow: inside, the command sees its own changes"
after=$(tree_listing "$WS")
if [ "$before" = "$after" ]; then
	pass "--cow: the host workspace is byte-for-byte unchanged (contents, modes, links)"
else
	fail "--cow: the host workspace is byte-for-byte unchanged (contents, modes, links)" \
		"$(printf '%s\n' "$before" >"$TEST_TMP/before"; printf '%s\n' "$after" >"$TEST_TMP/after"
		diff "$TEST_TMP/before" "$TEST_TMP/after")"
fi
is "$(ls -A "$TMPDIR")" "" "--cow: shipgate removed its scratch directory"

# ---- network ---------------------------------------------------------------------------

tcp_check='import socket
try:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
    c = socket.create_connection(s.getsockname(), timeout=3)
    a, _ = s.accept(); c.sendall(b"ping"); print("tcp", a.recv(4).decode())
except OSError as e:
    print("tcp failed:", e)'
ok "control: the host has more interfaces than lo" sh -c '[ "$(ip -o link | wc -l)" -gt 1 ]'

sg_exec --net none -- sh -c "ip -o link; python3 -c '$tcp_check'"
is "$SG_RC" 0 "--net none: ip and python3 run"
links=$(printf '%s\n' "$SG_OUT" | grep -v '^tcp')
is "$(printf '%s\n' "$links" | cut -d' ' -f2)" "lo:" "--net none: lo is the only interface"
like "$links" "^1: lo: <[A-Z_,]*> .* state DOWN" "--net none: lo is DOWN"
unlike "$links" "<([A-Z_]*,)*UP[,>]" "--net none: lo does not have the UP flag"
unlike "$SG_OUT" "^tcp ping$" "--net none: a TCP connection to 127.0.0.1 fails"

sg_exec -- sh -c "ip -o link; python3 -c '$tcp_check'"
is "$SG_RC" 0 "default network: ip and python3 run"
links=$(printf '%s\n' "$SG_OUT" | grep -v '^tcp')
is "$(printf '%s\n' "$links" | cut -d' ' -f2)" "lo:" "default (loopback): lo is the only interface"
like "$links" "^1: lo: <([A-Z_]*,)*UP[,>]" "default (loopback): lo is UP"
like "$SG_OUT" "^tcp ping$" "default (loopback): TCP listen and connect on 127.0.0.1 work"

# ---- privileges ------------------------------------------------------------------------

sg_exec -- sh -c 'grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status'
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	like "$SG_OUT" "^$c:[[:space:]]+0+$" "$c is 0"
done
like "$SG_OUT" "^NoNewPrivs:[[:space:]]+1$" "NoNewPrivs is 1"
like "$SG_OUT" "^Seccomp:[[:space:]]+2$" "a seccomp filter is loaded (Seccomp: 2)"

# ---- system calls ----------------------------------------------------------------------

denied="mount unshare_user ptrace bpf keyctl perf_event_open open_by_handle_at userfaultfd kexec_load init_module setns"
# shellcheck disable=SC2086 # $denied is a list of names
sg_exec --ro-bind "$PROBE_DIR:/probe" -- /probe/try_syscall $denied clone3 ioctl_tiocsti getpid fork execve
is "$SG_RC" 0 "try_syscall runs in the sandbox"
for s in $denied; do
	like "$SG_OUT" "^$s EPERM$" "$s fails with EPERM"
done
like "$SG_OUT" "^clone3 ENOSYS$" "clone3 fails with ENOSYS (so that libc falls back to clone)"
like "$SG_OUT" "^ioctl_tiocsti EPERM$" "ioctl(TIOCSTI) fails with EPERM"
for s in getpid fork execve; do
	like "$SG_OUT" "^$s OK$" "$s works"
done

sg_exec --policy none --evidence "$TEST_TMP/nopolicy.json" --ro-bind "$PROBE_DIR:/probe" -- \
	sh -c '/probe/try_syscall mount unshare_user; grep "^Seccomp_filters:" /proc/self/status'
like "$SG_OUT" "^mount EPERM$" "--policy none: mount still fails (no capability)"
like "$SG_OUT" "^unshare_user OK$" "--policy none: control: an allowed call reports OK"
like "$SG_OUT" "^Seccomp_filters:[[:space:]]+1$" "--policy none: no policy filter, only shipgate's own no-set-ID filter"
is "$(jget "$TEST_TMP/nopolicy.json" 'd["enforced"]["seccomp"]["enabled"]')" false \
	"--policy none: the evidence says seccomp is off"

# ---- no nested sandbox -----------------------------------------------------------------

SG_DIR=$(dirname "$SHIPGATE")
SG_BASE=$(basename "$SHIPGATE")
# the inner shipgate gets the policies too, so that only the sandbox can stop it; and, in
# the sanitizer build, no LeakSanitizer, which needs ptrace (denied inside) to work at all
sg_exec --ro-bind "$SG_DIR:/sg" --ro-bind "$SHIPGATE_POLICY_DIR:/policies" \
	--setenv SHIPGATE_POLICY_DIR=/policies --setenv ASAN_OPTIONS=detect_leaks=0 -- \
	/sg/"$SG_BASE" exec -- sh -c 'echo INNER-COMMAND-RAN'
is "$SG_RC" 125 "shipgate exec inside shipgate exec fails with exit code 125"
unlike "$SG_OUT" "INNER-COMMAND-RAN" "the nested sandbox does not run the inner command"
like "$SG_ERR" "shipgate exec: .*(sandbox|namespace)" "and says that the sandbox could not be set up"

done_testing
