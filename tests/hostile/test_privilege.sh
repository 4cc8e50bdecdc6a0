#!/bin/sh
# test_privilege.sh: a candidate that tries to gain privilege: the kernel's dangerous
# system calls (keyrings, eBPF, perf, userfaultfd, io_uring, kexec, modules, reboot, swap,
# accounting, the kernel log, personality), a new user namespace and a mount in it,
# joining other namespaces, its own uid map, a setuid-root binary and one with file
# capabilities placed in the workspace, the host's setuid programs, and setcap itself.
. "$(dirname "$0")/lib.sh"
require_root

plan 87

# ---- the kernel's attack surface: every call denied, named, and fatal to the step ------

denied="keyctl add_key bpf perf_event_open userfaultfd kexec_load kexec_file_load init_module
finit_module delete_module reboot swapon swapoff acct syslog unshare_user unshare_mount
clone_newuser setns iopl settimeofday"
# shellcheck disable=SC2086 # a list of names
names=$(printf '"%s",' $denied)
J=$(hjob syscalls '{"version":1,"name":"syscalls","workspace":"ws","steps":[
 {"name":"escape","run":["./attack","syscalls",'"$names"'"io_uring_setup","clone3_newuser",
  "personality_norandom","personality_readexec","personality_highbits"]}]}')
hrun "$J"
check_survival 1 "dangerous syscalls"
is "$(step '["status"]')" violation "dangerous syscalls: the step's status is violation"
log=$(cat "$J/out/logs/escape.stdout")
for s in $denied; do
	like "$log" "^$s EPERM$" "$s: refused with EPERM"
done
like "$log" "^io_uring_setup ENOSYS$" "io_uring_setup: ENOSYS (so that libraries fall back)"
like "$log" "^clone3_newuser ENOSYS$" "clone3 with CLONE_NEWUSER: ENOSYS (seccomp cannot read its flags)"
is "$(printf '%s\n' "$log" | grep -c '^personality_[a-z]* EPERM$')" 3 \
	"personality: ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and a high-bit persona are all refused"
want='["acct", "add_key", "bpf", "clock_settime", "clone", "delete_module", "finit_module", "init_module", "iopl", "kexec_file_load", "kexec_load", "keyctl", "perf_event_open", "reboot", "setns", "swapoff", "swapon", "syslog", "unshare", "userfaultfd"]'
is "$(step '["violations"]' | "$PY" -c '
import json, sys
print(json.dumps(sorted({v["syscall"] for v in json.load(sys.stdin) if v["fails"]})))')" "$want" \
	"dangerous syscalls: every denied call is in the verdict, as failing the step"
is "$(step '["violations"]' | "$PY" -c '
import json, sys
print(all(v["program"].endswith("/attack") for v in json.load(sys.stdin)))')" True \
	"dangerous syscalls: each violation names the program that made it"
like "$(jget "$ST" 'd["predicate"]["reason"]')" "^step 'escape' violation: denied " \
	"dangerous syscalls: the verdict's reason names the first denied call"
check_contained "$J" "dangerous syscalls"

# ---- its own uid map, and the namespaces of init --------------------------------------

J=$(hjob idmap '{"version":1,"name":"idmap","workspace":"ws","steps":[
 {"name":"idmap","run":"./attack idmap; ./attack syscalls setns; grep -E \"^ +0 +\" /proc/self/uid_map"}]}')
hrun "$J"
log=$(cat "$J/out/logs/idmap.stdout")
like "$log" "^/proc/self/uid_map EPERM$" "writing /proc/self/uid_map is refused (the map is written once, by the supervisor)"
like "$log" "^/proc/self/gid_map EPERM$" "writing /proc/self/gid_map is refused"
like "$log" "^/proc/self/setgroups EACCES$" "writing /proc/self/setgroups is refused"
like "$log" "^/proc/1/uid_map (EACCES|EPERM)$" "writing init's uid_map is refused"
like "$log" "^setns EPERM$" "setns into /proc/1/ns/* is refused"
if is_root; then
	want_uid=$(awk -F: '$1 == "shipgate" { print $2 }' /etc/subuid 2>/dev/null)
	[ -n "$want_uid" ] || want_uid=1000000000
	like "$log" "^ +0 +$want_uid +" "uid 0 inside is host uid $want_uid, never host root"
else
	like "$log" "^ +0 +$(id -u) +" "uid 0 inside is the caller"
fi
check_survival 1 "idmap"
is "$(step '["violations"][0]["syscall"]')" setns "idmap: the setns attempt is the recorded violation"

# ---- setuid and file capabilities in the workspace --------------------------------------

J=$(hjob suid '{"version":1,"name":"suid","workspace":"ws","steps":[
 {"name":"suid","run":"./suid-sh -p -c \"exec grep -e ^Cap -e ^NoNewPrivs /proc/self/status\"; echo ---; ./suid-attack status; echo ---; ./fcap-attack status; echo ---; cp attack mine; chmod u+s mine; echo chmod-suid=$?; ./mine status; echo ---; setcap cap_sys_admin+ep ./attack; echo setcap=$?; echo ---; grep \" /workspace \" /proc/self/mountinfo; mount -t tmpfs none /tmp; echo mount=$?; newuidmap 1 0 0 1; echo newuidmap=$?"}]}')
cp "$SHIPGATE_ATTACK" "$J/ws/suid-attack"
cp "$(command -v bash)" "$J/ws/suid-sh"
cp "$SHIPGATE_ATTACK" "$J/ws/fcap-attack"
if is_root; then
	chown 0:0 "$J/ws/suid-attack" "$J/ws/suid-sh"
	chmod 4755 "$J/ws/suid-attack" "$J/ws/suid-sh"
	setcap cap_sys_admin,cap_dac_read_search,cap_setuid,cap_sys_ptrace+ep "$J/ws/fcap-attack"
	ok "control: the workspace holds setuid-root copies of bash and of the attack program" test -u "$J/ws/suid-attack" -a -u "$J/ws/suid-sh"
	like "$(getcap "$J/ws/fcap-attack")" "cap_sys_admin" "control: and a copy with file capabilities"
else
	skip "control: the workspace holds setuid-root copies of bash and of the attack program" "needs root"
	skip "control: and a copy with file capabilities" "needs root"
fi
before=$(tree_listing "$J/ws")
hrun "$J"
check_survival 1 "setuid"
is "$(step '["violations"][0]["syscall"]')" mount "setuid: the setuid mount(8) is recorded as a denied mount"
log=$(cat "$J/out/logs/suid.stdout")
is "$(printf '%s\n' "$log" | grep -c '^CapEff:[[:space:]]*0*$')" 4 \
	"a setuid-root bash (-p), a setuid-root program, a file-capability copy and the candidate's own setuid copy: no capability"
is "$(printf '%s\n' "$log" | grep -c '^CapPrm:[[:space:]]*0*$')" 4 "nor any permitted one"
is "$(printf '%s\n' "$log" | grep -c '^NoNewPrivs:[[:space:]]*1$')" 4 "no_new_privs holds in all four"
like "$log" "^setcap=1$" "setcap on a copy fails inside (no CAP_SETFCAP)"
like "$log" "^chmod-suid=[1-9]" "the candidate cannot even make a setuid file of its own"
like "$log" " /workspace [^ ]*nosuid" "/workspace is mounted nosuid"
like "$log" "^mount=[1-9]" "the host's setuid mount(8) does not mount anything"
like "$log" "^newuidmap=[1-9]" "the host's setuid newuidmap(1) does not map anything"
is "$(tree_listing "$J/ws")" "$before" "setuid: the host workspace is unchanged"
check_contained "$J" "setuid"

# ---- set-ID files through a writable idmapped workspace ---------------------------------

# exec's workspace is writable and idmapped: what the sandbox's root makes there belongs
# on the host to the directory's owner (root here). A set-user-ID file made there would
# be a root shell for any local user, whatever the policy: try every route to one.
W=$(new_tmp setid)
cp "$SHIPGATE_ATTACK" "$W/attack"
for policy in none default; do
	hexec --workspace "$W" --policy "$policy" -q -- ./attack setid
	routes=$(printf '%s\n' "$SG_OUT" | grep -c '^setid ')
	if [ "$policy" = none ]; then
		is "$routes" 13 "set-ID ($policy): all 13 routes were tried"
		like "$SG_OUT" "int80 getpid OK" "set-ID ($policy): control: the i386 ABI works without a policy"
		like "$SG_OUT" "setid int80-chmod EPERM" "set-ID ($policy): chmod through int 0x80 is refused"
		like "$SG_OUT" "setid io_uring-openat ENOSYS" "set-ID ($policy): io_uring, which no filter sees, is not available"
	else
		is "$SG_RC" 159 "set-ID ($policy): the policy kills the i386 ABI outright (SIGSYS)"
	fi
	is "$(printf '%s\n' "$SG_OUT" | grep '^setid ' | grep -c ' OK$')" 0 "set-ID ($policy): no route made a set-ID file"
	is "$(find "$W" -perm /6000 | wc -l)" 0 "set-ID ($policy): no set-ID file in the workspace on the host"
done
is_root && is "$(stat -c %u "$W")" 0 "control: the workspace is root's (what the sandbox makes there is root's on the host)"
is_root || skip "control: the workspace is root's" "not root"

# ---- exec: the same through the bare sandbox ---------------------------------------------

W=$(new_tmp execws)
cp "$SHIPGATE_ATTACK" "$W/attack"
hexec --workspace "$W" --evidence "$W/../exec-ev.json" --trace "$W/../exec-trace.jsonl" -- \
	./attack syscalls unshare_mount bpf keyctl setns
is "$SG_RC" 0 "exec: the command's own exit code passes through"
is "$(printf '%s\n' "$SG_OUT" | grep -c ' EPERM$')" 4 "exec: unshare+mount, bpf, keyctl and setns are refused"
is "$(jget "$W/../exec-ev.json" 'd["status"]')" violation "exec --evidence: the status is violation"
is "$(jget "$W/../exec-ev.json" 'sorted(v["syscall"] for v in d["violations"])')" '["bpf", "keyctl", "setns", "unshare"]' \
	"exec --evidence: the four denied calls are named"
ok "exec --evidence: the evidence is valid UTF-8 JSON" valid_evidence "$W/../exec-ev.json"
is "$("$PY" -c '
import json, sys
print(sorted({e["syscall"] for e in map(json.loads, open(sys.argv[1])) if e["event"] == "denied"}))' "$W/../exec-trace.jsonl")" \
	"['bpf', 'keyctl', 'setns', 'unshare']" "exec --trace: the trace has each denial"
check_contained "$W" "exec"

# ---- a seccomp program kept where a sandbox could write it ------------------------------
# shipgate once kept compiled seccomp programs in the user's cache dir and read them back
# at the next start: a command given that dir (exec run from the home) could leave an
# allow-everything program for every later sandbox, while the evidence still named the
# allowlist. exec now refuses such a workspace (test_information.sh); here whatever sits
# in the cache dir is rewritten from outside, after a sandbox ran (which made the files, in
# the binaries that had the cache), and the next sandbox must still refuse unshare: no
# program is ever read back from disk.
W=$(new_tmp cachews)
C=$(new_tmp cache)
cp "$SHIPGATE_ATTACK" "$W/attack"
cat >"$TEST_TMP/poison.py" <<'PY'
import glob, struct, sys
n = 0
for f in glob.glob(sys.argv[1] + "/shipgate/seccomp/*.bpf"):
    d = open(f, "rb").read()
    head = 7 + 8
    plen = struct.unpack_from("I", d, 11)[0]
    allow_all = struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000)
    open(f, "wb").write(d[:head + plen] + struct.pack("I", 1) + allow_all)
    n += 1
print("rewritten", n)
PY
XDG_CACHE_HOME=$C hexec --workspace "$W" -- true
is "$SG_RC" 0 "cache: a first sandbox ran"
"$PY" "$TEST_TMP/poison.py" "$C" >"$TEST_TMP/poison.out"
like "$(cat "$TEST_TMP/poison.out")" "^rewritten [0-9]+$" "cache: every program in the cache dir rewritten to allow everything"
XDG_CACHE_HOME=$C hexec --workspace "$W" -- ./attack syscalls unshare_user
like "$SG_OUT" "^unshare_user EPERM$" "cache: the next sandbox still refuses a new user namespace (no program is read back from the user's cache)"

done_testing
