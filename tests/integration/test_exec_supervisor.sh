#!/bin/sh
# test_exec_supervisor.sh: the supervisor's side of `shipgate exec`: the timeout kills the
# whole tree (daemons included) and counts what it killed; when the command exits, what
# it left running dies with it; ^C and SIGTERM to shipgate take the sandbox down and
# leave no process, mount, cgroup or temp dir on the host.
. "$(dirname "$0")/lib.sh"

plan 48

WS=$(new_tmp ws)
cd "$WS" || exit 1
E=$TEST_TMP/evidence.json

mount_ids() {
	awk '{ print $1 }' /proc/self/mountinfo | sort -n
}

# ---- timeout ---------------------------------------------------------------------------

d1="300.$(unique)"
t0=$(date +%s%N)
sg_exec --timeout 1 --evidence "$E" -- sh -c "setsid sleep $d1 & sleep $d1"
took_ms=$((($(date +%s%N) - t0) / 1000000))
num "$took_ms" -lt 5000 "--timeout 1 with a setsid'd grandchild ends within 5 s (took $took_ms ms)"
is "$(jget "$E" 'd["status"]')" timeout "the evidence status is timeout"
is "$(jget "$E" '"timeout" in d["limits_hit"]')" true "\"timeout\" is in limits_hit"
num "$(jget "$E" 'd["leftover_processes"]')" -ge 1 "the processes the timeout killed are counted (leftover_processes >= 1)"
ok "no 'sleep $d1' is left on the host" gone_within 3 "$d1"
case "$SG_RC" in
124 | 137) pass "shipgate exec exits $SG_RC after the timeout (124 as timeout(1), or 128+SIGKILL)" ;;
*) fail "shipgate exec exits 124 or 137 after the timeout" "exit status: $SG_RC" "$SG_ERR" ;;
esac
is "$(jget "$E" 'd["exit_code"]')" null "the evidence has no exit code for a command that was killed"
like "$SG_ERR" "timed out" "shipgate says it timed out"

# ---- what the command leaves behind dies with it ---------------------------------------

d2="300.$(unique)"
rm -f "$E"
t0=$(date +%s%N)
sg_exec --evidence "$E" -- sh -c "setsid sh -c 'sleep $d2 & sleep $d2' >/dev/null 2>&1 & exit 7"
took_ms=$((($(date +%s%N) - t0) / 1000000))
is "$SG_RC" 7 "a command that leaves a daemon behind: its own exit code (7) is reported"
num "$took_ms" -lt 5000 "and shipgate does not wait for the daemon (took $took_ms ms)"
num "$(jget "$E" 'd["leftover_processes"]')" -ge 1 "the daemon is counted in leftover_processes"
ok "no 'sleep $d2' is left on the host" gone_within 3 "$d2"

# ---- interrupted: SIGINT (^C) and SIGTERM ----------------------------------------------

# interrupt SIGNAL EXPECTED_STATUS: start a --cow sandbox whose command forks a daemon,
# wait until it runs, send SIGNAL to shipgate, and check what is left
interrupt() {
	sig=$1
	want=$2
	dur="300.$(unique)"
	mounts_before=$(mount_ids)
	"$SHIPGATE" exec --cow -- sh -c "setsid sleep $dur & sleep $dur" </dev/null >/dev/null 2>"$TEST_TMP/int.err" &
	sg_pid=$!
	track_pid "$sg_pid"
	inner=$(wait_for_pid_with_args sleep "$dur")
	if [ -z "$inner" ]; then
		fail "SIG$sig: the sandboxed command started" "$(cat "$TEST_TMP/int.err")"
	else
		pass "SIG$sig: the sandboxed command started"
	fi
	# controls: what must be cleaned up does exist while the sandbox runs
	num "$(sg_cgroups_of "$sg_pid" | wc -l)" -ge 1 "SIG$sig: control: shipgate made a cgroup sg-$sg_pid-* while running"
	num "$(ls -A "$TMPDIR" | wc -l)" -ge 1 "SIG$sig: control: shipgate made a scratch dir in \$TMPDIR while running"

	kill -"$sig" "$sg_pid"
	wait_exit "$sg_pid" 5
	is "$WAIT_RC" "$want" "SIG$sig: shipgate exits within 5 s with status $want (128+SIG$sig) (took ${WAIT_MS} ms)"
	ok "SIG$sig: no 'sleep $dur' (command or setsid'd daemon) is left" gone_within 3 "$dur"
	is "$(sg_cgroups_of "$sg_pid")" "" "SIG$sig: no cgroup sg-$sg_pid-* is left under /sys/fs/cgroup"
	mounts_after=$(mount_ids)
	if [ "$mounts_before" = "$mounts_after" ]; then
		pass "SIG$sig: the host's mount table is as before ($(echo "$mounts_after" | wc -l) mounts)"
	else
		fail "SIG$sig: the host's mount table is as before" \
			"before: $(echo "$mounts_before" | wc -l) mounts, after: $(echo "$mounts_after" | wc -l)" \
			"$(grep -E "^($(echo "$mounts_after" | tr '\n' '|' | sed 's/|$//')) " /proc/self/mountinfo |
				grep -vE "^($(echo "$mounts_before" | tr '\n' '|' | sed 's/|$//')) ")"
	fi
	is "$(ls -A "$TMPDIR")" "" "SIG$sig: no temp or scratch dir is left in \$TMPDIR"
}

interrupt INT 130
interrupt TERM 143

# the same for `shipgate run`: its scratch layer lives for the whole job
JOBDIR=$(new_tmp job)
mkdir "$JOBDIR/src"
echo keep >"$JOBDIR/src/file"
dur="300.$(unique)"
cat >"$JOBDIR/job.json" <<EOF
{ "version": 1, "name": "interrupted", "workspace": "src",
  "steps": [ { "name": "hang", "run": "setsid sleep $dur & sleep $dur" },
             { "name": "after", "run": "echo must-not-run" } ] }
EOF
mounts_before=$(mount_ids)
"$SHIPGATE" run "$JOBDIR/job.json" --out "$JOBDIR/out" </dev/null >"$TEST_TMP/run.out" 2>&1 &
run_pid=$!
track_pid "$run_pid"
inner=$(wait_for_pid_with_args sleep "$dur")
isnt "$inner" "" "run: the step's command started"
kill -TERM "$run_pid"
wait_exit "$run_pid" 5
is "$WAIT_RC" 143 "run: SIGTERM -> shipgate run exits within 5 s with status 143 (took ${WAIT_MS} ms)"
ok "run: no 'sleep $dur' is left" gone_within 3 "$dur"
is "$(sg_cgroups_of "$run_pid")" "" "run: no cgroup sg-$run_pid-* is left"
is "$(mount_ids)" "$mounts_before" "run: the host's mount table is as before"
is "$(ls -A "$TMPDIR")" "" "run: no scratch dir is left in \$TMPDIR"
is "$(jget "$JOBDIR/out/statement.json" 'd["predicate"]["steps"][1]["status"]')" skipped \
	"run: the step after the interrupted one did not run"

# a signal during the workspace digest stops it at once (it digested the whole tree first,
# then, the steps skipped, the whole tree again): 8 GB of sparse files take seconds
BIGWS=$(new_tmp bigjob)
mkdir "$BIGWS/ws"
for i in 1 2 3 4 5 6 7 8; do truncate -s 1G "$BIGWS/ws/big$i"; done
printf '%s\n' '{ "version": 1, "name": "big", "workspace": "ws", "steps": [ { "name": "a", "run": "true" } ] }' >"$BIGWS/job.json"
SHIPGATE_TIMING=1 "$SHIPGATE" run "$BIGWS/job.json" --out "$BIGWS/out" </dev/null >/dev/null 2>"$BIGWS/err" &
big_pid=$!
track_pid "$big_pid"
for _ in $(seq 100); do grep -q "mounts digested" "$BIGWS/err" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
kill -INT "$big_pid"
wait_exit "$big_pid" 20
is "$WAIT_RC" 130 "run: SIGINT during the workspace digest -> exit 130"
num "$WAIT_MS" -le 1500 "run: ... within 1.5 s, the digest stopped where it was (took ${WAIT_MS} ms)"
like "$(cat "$BIGWS/err")" "workspace digest \(nothing ran\): .*interrupted by a signal" "run: ... and it says so"
unlike "$(cat "$BIGWS/err")" "run: workspace digested" "run: ... before the digest was done"

# the supervisor's own memory: a plain exec never maps libcrypto (loaded on first use by
# digests and signatures), and its peak RSS stays within 4 MB (issue 9, goal 5)
"$SHIPGATE" exec -q -- sleep 3 </dev/null >/dev/null 2>&1 &
sup=$!
track_pid "$sup"
wait_for_pid_with_args sleep 3 >/dev/null
is "$(grep -c libcrypto "/proc/$sup/maps" 2>&1)" 0 "exec: libcrypto is not mapped in the supervisor"
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$sup/status")
if [ "${SHIPGATE_SANITIZED:-0}" = 1 ]; then
	skip "exec: the supervisor's peak RSS" "a sanitizer build ($hwm kB, shadow memory included)"
else
	num "$hwm" -le 4096 "exec: the supervisor's peak RSS ($hwm kB) is at most 4096 kB"
fi
wait "$sup" || true
# ... nor at its end: the evidence of an empty stream once loaded libcrypto (1.5 ms and
# its pages) just before exit, where the check above does not look. glibc's loader names
# every library it loads when LD_DEBUG=files (the sandbox's env is the job's, not ours).
LD_DEBUG=files "$SHIPGATE" exec -q -- /bin/true </dev/null >/dev/null 2>"$TEST_TMP/ld_debug.txt"
like "$(grep -c 'file=' "$TEST_TMP/ld_debug.txt")" '^[1-9]' "exec: LD_DEBUG shows the loader at work (the check below can see a load)"
is "$(grep -c 'file=libcrypto' "$TEST_TMP/ld_debug.txt")" 0 "exec: libcrypto is never loaded, up to its exit"

# output copied to a reader that keeps up only in part: what was written is dropped from
# the front of the waiting buffer (it grew with everything the command wrote: 100 MB
# through `exec --evidence` held 100 MB), and all of it still arrives, in order
SHIPGATE_TIMING=1 "$SHIPGATE" exec -q --evidence "$TEST_TMP/yes.json" -- sh -c 'yes | head -c 100000000' \
	2>"$TEST_TMP/yes.timing" </dev/null | sha256sum >"$TEST_TMP/yes.sum"
is "$(cut -d' ' -f1 "$TEST_TMP/yes.sum")" "$(yes | head -c 100000000 | sha256sum | cut -d' ' -f1)" \
	"exec --evidence: 100 MB of output pass through whole"
is "$(jget "$TEST_TMP/yes.json" 'd["stdout"]["bytes"]')" 100000000 "and the evidence counts all of it"
hwm=$(sed -n 's/.* exit (peak RSS \([0-9]*\) kB)$/\1/p' "$TEST_TMP/yes.timing")
if [ "${SHIPGATE_SANITIZED:-0}" = 1 ]; then
	skip "exec --evidence: the supervisor's peak RSS with 100 MB of output" "a sanitizer build ($hwm kB)"
else
	num "$hwm" -le 4608 "exec --evidence: the supervisor's peak RSS with 100 MB of output ($hwm kB) stays under 4.5 MB"
fi

# a job of 200 steps, each with 5 KB of output on stdout and 1 KB on stderr: the
# supervisor kept each step's 4 KiB of tails to the end (4.1 MB at its peak); a tail its
# log holds is read back from the log when the statement is written
S200=$(new_tmp steps200)
mkdir "$S200/ws"
"$PY" -c 'import json
run = ["sh", "-c", "for i in $(seq 100); do echo line-of-output-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; echo err-$i >&2; done"]
print(json.dumps({"version": 1, "name": "steps200", "workspace": "ws",
                  "steps": [{"name": "s%d" % i, "run": run} for i in range(200)]}))' >"$S200/job.json"
SHIPGATE_TIMING=1 "$SHIPGATE" run -q "$S200/job.json" --out "$S200/out" </dev/null >/dev/null 2>"$S200/timing"
is "$(jget "$S200/out/statement.json" '(d["predicate"]["result"], len(d["predicate"]["steps"]), d["predicate"]["steps"][199]["stderr"]["tail"].endswith("err-100\n"))')" \
	'["PASSED", 200, true]' "run: 200 steps with output pass, each with its tails"
hwm=$(sed -n 's/.* exit (peak RSS \([0-9]*\) kB)$/\1/p' "$S200/timing")
if [ "${SHIPGATE_SANITIZED:-0}" = 1 ]; then
	skip "run: the supervisor's peak RSS with 200 steps" "a sanitizer build ($hwm kB)"
else
	num "$hwm" -le 3900 "run: the supervisor's peak RSS with 200 steps of output ($hwm kB) stays under 3.9 MB"
fi

done_testing
