#!/bin/sh
# test_process.sh: a candidate that tries to outlive, escape or attack the processes around
# it: a fork bomb, a double-forking daemon, setsid and ignored signals, a child that keeps
# stdout open, a zombie storm, ptrace of a sibling and of init, kill(-1, SIGKILL), signals to
# the supervisor, overwriting /proc/self/exe or init's binary (runc CVE-2019-5736), and the
# host descriptors a sandbox can leak (runc CVE-2024-21626).
. "$(dirname "$0")/lib.sh"
require_root

plan 102

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# ---- a fork bomb -------------------------------------------------------------------------

m="bomb$(unique)"
J=$(hjob bomb '{"version":1,"name":"bomb","workspace":"ws","limits":{"pids":64,"timeout_s":2},"steps":[
 {"name":"bomb","run":["./attack","forkbomb","'"$m"'"]}]}')
hrun "$J"
check_survival 1 "fork bomb"
is "$(step '["status"]')" timeout "fork bomb: the step's status is timeout"
is "$(step '["limits_hit"]')" '["timeout", "pids"]' "fork bomb: limits_hit names the timeout and the pids limit"
num "$(step '["pids_peak"]')" -le 64 "fork bomb: the cgroup held it at the limit (pids_peak $(step '["pids_peak"]'))"
check_contained "$m" "fork bomb"

# ---- a double-forking daemon, and a child that keeps stdout open ---------------------------

m="300.$(unique)"
J=$(hjob daemon '{"version":1,"name":"daemon","workspace":"ws","steps":[
 {"name":"daemon","run":["./attack","daemon","'"$m"'"]},
 {"name":"holdout","run":["./attack","holdout","'"$m"'"]},
 {"name":"after","run":"ps -e -o comm= | grep -cx sleep; true"}]}')
t0=$(date +%s)
hrun "$J"
check_survival 0 "daemon"
num "$(($(date +%s) - t0))" -lt 10 "daemon: the job does not wait for the daemon nor for the child holding stdout"
num "$(jget "$ST" 'd["predicate"]["steps"][0]["leftover_processes"]')" -ge 1 \
	"daemon: the double-forked, setsid, signal-proof daemon is counted as a leftover"
num "$(jget "$ST" 'd["predicate"]["steps"][1]["leftover_processes"]')" -ge 1 \
	"holdout: the child holding stdout open is counted as a leftover"
is "$(cat "$J/out/logs/after.stdout")" 0 "daemon: the next step's sandbox has no trace of either"
check_contained "$m" "daemon"

# the same under a timeout: the command waits while a setsid daemon ignores SIGTERM
m="300.$(unique)"
J=$(hjob daemonto '{"version":1,"name":"daemonto","workspace":"ws","limits":{"timeout_s":1},"steps":[
 {"name":"wait","run":"./attack daemon '"$m"'; exec sleep '"$m"'"}]}')
hrun "$J"
check_survival 1 "daemon under timeout"
is "$(step '["status"]')" timeout "daemon under timeout: status timeout"
num "$(step '["leftover_processes"]')" -ge 1 "daemon under timeout: the daemon is counted as left over"
check_contained "$m" "daemon under timeout"

# exec with --evidence captures the output: a child holding it must not hang shipgate
m="300.$(unique)"
W=$(new_tmp holdexec)
cp "$SHIPGATE_ATTACK" "$W/attack"
t0=$(date +%s)
hexec --workspace "$W" --evidence "$W.json" -- ./attack holdout "$m"
is "$SG_RC" 0 "exec holdout: the command's exit code"
num "$(($(date +%s) - t0))" -lt 10 "exec holdout: shipgate exec returns although a child holds stdout"
num "$(jget "$W.json" 'd["leftover_processes"]')" -ge 1 "exec holdout: the child is counted as a leftover"
check_contained "$m" "exec holdout"

# ---- a zombie storm ------------------------------------------------------------------------

J=$(hjob zombies '{"version":1,"name":"zombies","workspace":"ws","limits":{"pids":256},"steps":[
 {"name":"zombies","run":["./attack","zombies","2000"]}]}')
hrun "$J"
check_survival 0 "zombies"
like "$(cat "$J/out/logs/zombies.stdout")" "^zombies 2[0-9][0-9] EAGAIN$" \
	"zombies: unreaped children count against the pids limit"
is "$(step '["limits_hit"]')" '["pids"]' "zombies: limits_hit names the pids limit"
is "$(step '["leftover_processes"]')" 0 "zombies: zombies are not leftovers (init reaps them)"
check_contained "$J" "zombies"

# ---- ptrace and other processes' memory ------------------------------------------------------

J=$(hjob ptrace '{"version":1,"name":"ptrace","workspace":"ws","steps":[
 {"name":"ptrace","run":["./attack","syscalls","ptrace_traceme","ptrace_sibling","ptrace_init","process_vm_readv_init","pidfd_getfd_init"]}]}')
hrun "$J"
check_survival 1 "ptrace"
log=$(cat "$J/out/logs/ptrace.stdout")
for s in ptrace_traceme ptrace_sibling ptrace_init process_vm_readv_init pidfd_getfd_init; do
	like "$log" "^$s EPERM$" "$s: refused"
done
is "$(step '["violations"]' | "$PY" -c 'import json, sys; print(sorted({v["syscall"] for v in json.load(sys.stdin)}))')" \
	"['pidfd_getfd', 'process_vm_readv', 'ptrace']" "ptrace: the calls are named in the verdict"
check_contained "$J" "ptrace"

# ---- kill(-1, SIGKILL), signals to init --------------------------------------------------------

J=$(hjob killall '{"version":1,"name":"killall","workspace":"ws","steps":[
 {"name":"killall","run":["./attack","killall"]},{"name":"next","run":"echo next-step-ran"}]}')
hrun "$J"
check_survival 0 "kill -1"
like "$(cat "$J/out/logs/killall.stdout")" "^survived$" "kill -1: SIGKILL to every process it may signal, and init still reports the command's exit"
is "$(cat "$J/out/logs/next.stdout")" next-step-ran "kill -1: the next step runs as usual"
check_contained "$J" "kill -1"

# ---- signals to the supervisor and to host processes ---------------------------------------

W=$(new_tmp pids)
cp "$SHIPGATE_ATTACK" "$W/attack"
m="60.$(unique)"
sleep "$m" &
host_sleep=$!
track_pid "$host_sleep"
# the shell's $$ becomes shipgate: the candidate is told the supervisor's own pid
timeout -k 5 60 sh -c 'exec "$0" exec --workspace "$1" -- ./attack pids $$ "$2" "$3" 1' \
	"$SHIPGATE" "$W" "$host_sleep" "$$" </dev/null >"$TEST_TMP/pids.out" 2>&1
SG_RC=$?
log=$(cat "$TEST_TMP/pids.out")
is "$SG_RC" 0 "signals: shipgate is still there to pass the command's exit code"
like "$log" "^visible 1 2$" "signals: inside, only pids 1 (init) and 2 (the command) exist"
is "$(printf '%s\n' "$log" | grep -c '^kill [0-9]* ESRCH$')" 3 \
	"signals: the supervisor, a host process and the test itself cannot be signalled (ESRCH)"
is "$(printf '%s\n' "$log" | grep -c '^pidfd_open [0-9]* ESRCH$')" 3 "signals: nor opened as pidfds"
ok "signals: the host process is alive" kill -0 "$host_sleep"
kill "$host_sleep"

# ---- /proc/self/exe and init's binary (CVE-2019-5736) ------------------------------------------

shipgate_before=$(sha "$SHIPGATE")
sh_before=$(sha "$(readlink -f /bin/sh)")
J=$(hjob exe '{"version":1,"name":"exe","workspace":"ws","steps":[
 {"name":"exe","run":"./attack exe; (echo x >>/proc/$$/exe) 2>/dev/null; echo sh-exe=$?"}]}')
hrun "$J"
check_survival 0 "exe"
log=$(cat "$J/out/logs/exe.stdout")
like "$log" "^/proc/1/exe write (EACCES|EPERM)$" "init's binary (shipgate itself) cannot be opened for writing through /proc/1/exe"
like "$log" "^/proc/1/exe read (EACCES|EPERM)$" "nor read (init is not dumpable)"
like "$log" "^/proc/1/exe reopen (EACCES|EPERM)$" "nor reached through an O_PATH descriptor"
like "$log" "^/proc/self/exe write ETXTBSY$" "the running program cannot be rewritten (ETXTBSY)"
like "$log" "^/proc/self/exe reopen ETXTBSY$" "nor through /proc/self/fd"
like "$log" "^sh-exe=[1-9]" "the shell cannot append to its own binary (the host's /bin/sh)"
is "$(sha "$SHIPGATE")" "$shipgate_before" "exe: the shipgate binary on the host is unchanged"
is "$(sha "$(readlink -f /bin/sh)")" "$sh_before" "exe: the host's /bin/sh is unchanged"
check_contained "$J" "exe"

# ---- leaked descriptors (CVE-2024-21626) --------------------------------------------------------

# this shell may itself have inherited descriptors (251 on some CI hosts); add a file, a
# directory and a writable file of our own, so that there is something to leak
LEAK=$(new_tmp leak)
exec 5</etc/passwd
exec 7<"$LEAK" 9>"$LEAK/fd9"
J=$(hjob fds '{"version":1,"name":"fds","workspace":"ws","steps":[{"name":"fds","run":["./attack","fds"]}]}')
hrun "$J"
check_survival 0 "fds"
log=$(cat "$J/out/logs/fds.stdout")
like "$log" "^open fds 0$" "run: no descriptor from 3 to 1024 is open in the command"
like "$log" "^cwd /workspace$" "run: its working directory is /workspace"
like "$log" "^root /$" "run: its root is the sandbox's"
W=$(new_tmp fdsexec)
cp "$SHIPGATE_ATTACK" "$W/attack"
hexec --workspace "$W" -- ./attack fds
like "$SG_OUT" "^open fds 0$" "exec: no descriptor from 3 to 1024 is open"
hexec --workspace "$W" --evidence "$W.json" --trace "$W.trace" -- ./attack fds
like "$SG_OUT" "^open fds 0$" "exec --evidence --trace: none either (not the capture pipes, not the trace listener)"
# init (pid 1 inside) is our code, but it should not hold the host's descriptors either
m="30.$(unique)"
"$SHIPGATE" exec --workspace "$W" -- sleep "$m" </dev/null >/dev/null 2>&1 &
sg=$!
track_pid "$sg"
inner=$(wait_for_pid_with_args sleep "$m")
init=$(awk '/^PPid:/ { print $2 }' "/proc/$inner/status" 2>/dev/null)
held=$(ls -l "/proc/$init/fd" 2>/dev/null | grep -E "$LEAK|/etc/passwd" | sed 's/.* -> //')
is "$held" "" "init holds none of the host's descriptors ($LEAK, /etc/passwd) while the command runs"
kill "$sg"
wait "$sg" 2>/dev/null
exec 5<&- 7<&- 9>&-
check_contained "$m" "fds"

done_testing
