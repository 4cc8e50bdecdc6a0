#!/bin/sh
# test_loop.sh: the loop controller end to end, on the real binary: a planted bug fixed
# by a scripted agent on attempt 2 ships on attempt 2 with both attempts in the ledger; a
# loop that never converges gives up at N; a failure seen in an earlier `loop` run is
# reported as seen before; decide rejects tampered and stale verdicts; a tampered ledger
# is detected.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/test-loop.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME
export HOME="$work/home"
mkdir -p "$HOME"
WEAK=""
if [ "$(id -u)" -ne 0 ]; then
	# unprivileged without delegation the limits cannot be enforced, and a verdict
	# without them never ships: that is the policy, so there is no loop to test here
	echo "1..0 # SKIP the loop ships only under enforced limits (run as root)"
	exit 0
fi

. "$(dirname "$0")/../tap.sh"
expect() { # CODE TEXT DESC CMD...: CMD exits CODE and its output contains TEXT
	code=$1 text=$2 d=$3
	shift 3
	set +e
	out=$("$@" 2>&1)
	rc=$?
	set -e
	if [ "$rc" -eq "$code" ] && printf '%s' "$out" | grep -qF -- "$text"; then
		ok "$d"
	else
		not_ok "$d"
		printf '#   exit %s (want %s), want text: %s\n' "$rc" "$code" "$text"
		printf '%s\n' "$out" | sed 's/^/#   | /' | tail -30
	fi
}
json_get() { "$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"e": e}))' "$1" "$2"; }

# A copy of the demo with a planted bug: multiplication adds.
demo() {
	rm -rf "$work/$1"
	cp -r "$SRC/examples/demo" "$work/$1"
	rm -rf "$work/$1/shipgate-out" "$work/$1/.shipgate"
	(cd "$work/$1/calc" && make -s clean >/dev/null 2>&1 || true)
	sed -i 's/v \*= rhs;/v += rhs;/' "$work/$1/calc/calc.c"
}

# The scripted agent: on attempt 2 it reads the diagnosis and fixes the bug if the
# diagnosis names the failing test.
cat >"$work/fixer.sh" <<'AGENT'
#!/bin/sh
echo "agent attempt $SHIPGATE_ATTEMPT of $SHIPGATE_MAX_ATTEMPTS"
[ -d "$SHIPGATE_WORKSPACE" ] || { echo "no workspace"; exit 3; }
if [ "$SHIPGATE_ATTEMPT" -eq 1 ]; then
	[ -z "${SHIPGATE_DIAGNOSIS:-}" ] || { echo "a diagnosis on attempt 1?"; exit 3; }
	exit 0
fi
grep -q "tests_failed" "$SHIPGATE_DIAGNOSIS" || { echo "diagnosis does not say tests_failed"; exit 0; }
grep -q "2+3\*4" "$SHIPGATE_DIAGNOSIS" || { echo "diagnosis does not name the failing test"; exit 0; }
sed -i 's/v += rhs;/v *= rhs;/' "$SHIPGATE_WORKSPACE/calc.c"
echo "fixed"
AGENT
chmod +x "$work/fixer.sh"
cat >"$work/idle.sh" <<'AGENT'
#!/bin/sh
echo "agent attempt $SHIPGATE_ATTEMPT: doing nothing"
AGENT
chmod +x "$work/idle.sh"

# 1. planted bug, fixed on attempt 2
demo d1
expect 0 "SHIP at attempt 2/3" "loop: the fixed bug ships on attempt 2" \
	"$SHIPGATE" loop "$work/d1/job.json" --agent "$work/fixer.sh" $WEAK
check "loop: attempt 1's diagnosis is tests_failed" grep -q "DIAGNOSE: tests_failed" "$work/d1/shipgate-out/attempt-1/diagnosis.md"
check "loop: the diagnosis quotes the failing test" grep -q "2+3\*4" "$work/d1/shipgate-out/attempt-1/diagnosis.md"
check "loop: attempt 2 shipped, so it has no diagnosis" test ! -e "$work/d1/shipgate-out/attempt-2/diagnosis.md"
expect 0 "chain intact" "ledger: verifies after the loop" "$SHIPGATE" ledger verify "$work/d1/job.json"
show=$("$SHIPGATE" ledger show "$work/d1/job.json")
check "ledger: both attempts are there" sh -c "printf '%s' \"\$1\" | grep -q 'attempt 1.*DIAGNOSE' && printf '%s' \"\$1\" | grep -q 'attempt 2.*SHIP'" _ "$show"
expect 0 "SHIP" "decide: the shipped verdict ships again, with the workspace as it is" \
	"$SHIPGATE" decide "$work/d1/shipgate-out/attempt-2/verdict.dsse.json" --workspace "$work/d1/calc" --no-ledger

# 2. decide rejects what it cannot trust
echo "/* changed after verification */" >>"$work/d1/calc/main.c"
expect 3 "REJECTED" "decide: code changed after verification cannot ship (stale subject)" \
	"$SHIPGATE" decide "$work/d1/shipgate-out/attempt-2/verdict.dsse.json" --workspace "$work/d1/calc" --no-ledger
"$PY" - "$work/d1/shipgate-out/attempt-2/verdict.dsse.json" "$work/tampered.json" <<'PY'
import base64, json, sys
e = json.load(open(sys.argv[1]))
st = json.loads(base64.b64decode(e["payload"]))
st["predicate"]["result"] = "PASSED"
st["predicate"]["steps"][1]["status"] = "passed"
st["predicate"]["reason"] = "forged"
e["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
json.dump(e, open(sys.argv[2], "w"))
PY
expect 3 "REJECTED" "decide: a tampered payload is rejected" "$SHIPGATE" decide "$work/tampered.json" --no-ledger
"$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); e["signatures"]=[]; json.dump(e, open(sys.argv[2],"w"))' \
	"$work/d1/shipgate-out/attempt-1/verdict.dsse.json" "$work/unsigned.json"
expect 3 "REJECTED" "decide: an unsigned verdict is rejected" "$SHIPGATE" decide "$work/unsigned.json" --no-ledger
"$SHIPGATE" keygen "$work/other" >/dev/null
expect 3 "REJECTED" "decide: a verdict checked against another key is rejected" \
	"$SHIPGATE" decide "$work/d1/shipgate-out/attempt-1/verdict.dsse.json" --pub "$work/other/shipgate.pub" --no-ledger
expect 2 "" "decide: garbage is exit 2" sh -c "echo garbage > '$work/g.json'; '$SHIPGATE' decide '$work/g.json' --no-ledger"
expect 2 "not a regular file" "decide: a FIFO as the verdict is refused at once (no hang)" sh -c "mkfifo '$work/fifo'; timeout 10 '$SHIPGATE' decide '$work/fifo' --no-ledger"
expect 1 "DIAGNOSE: tests_failed" "decide: the failing verdict diagnoses tests_failed" \
	"$SHIPGATE" decide "$work/d1/shipgate-out/attempt-1/verdict.dsse.json" --no-ledger --out "$work/diag"
check "decide: writes diagnosis.json with the category" sh -c "grep -q '\"category\":.*\"tests_failed\"' '$work/diag/diagnosis.json'"

# a verdict made without the trace cannot say there were no violations: it does not ship
"$SHIPGATE" run "$work/d1/job.json" --no-trace --out "$work/nt" --quiet $WEAK >/dev/null 2>&1
check "run --no-trace: the steps' violations are unknown (null), not none" \
	"$PY" -c 'import json,sys; st=json.load(open(sys.argv[1])); p=st["predicate"]; sys.exit(not (all(s["violations"] is None for s in p["steps"]) and p["enforced"]["seccomp"]["violations_traced"] is False))' "$work/nt/statement.json"
expect 1 "ran without the trace" "decide: a verdict without the trace does not ship" \
	"$SHIPGATE" decide "$work/nt/verdict.dsse.json" --no-ledger --out "$work/nt-diag"
expect 0 "SHIP" "decide: ... unless violations are explicitly allowed" \
	"$SHIPGATE" decide "$work/nt/verdict.dsse.json" --no-ledger --allow-violations --out "$work/nt-diag"

# 3. a loop that never converges gives up at N, and 4. a recurring failure is seen before
demo d2
expect 1 "gave up after 2 attempts" "loop: never converges, gives up at N with exit 1" \
	"$SHIPGATE" loop "$work/d2/job.json" --agent "$work/idle.sh" --max-attempts 2 $WEAK
check "loop: the last diagnosis is kept" test -s "$work/d2/shipgate-out/diagnosis.md"
expect 1 "seen before" "loop: a second invocation reports the failure as seen before" \
	"$SHIPGATE" loop "$work/d2/job.json" --agent "$work/idle.sh" --max-attempts 1 $WEAK
check "loop: the diagnosis says how often it was seen" grep -q "seen 2 times before" "$work/d2/shipgate-out/diagnosis.md"

# an agent that crashes is reported as the agent's failure, not the candidate's
demo d3
expect 1 "the agent crashed" "loop: a crashing agent is reported as such" \
	"$SHIPGATE" loop "$work/d3/job.json" --agent 'kill -SEGV $$' --max-attempts 1 $WEAK
expect 1 "timed out" "loop: an agent that hangs is killed at its timeout" \
	"$SHIPGATE" loop "$work/d3/job.json" --agent 'sleep 30' --agent-timeout 1 --max-attempts 1 $WEAK

# 5. ledger tampering is detected
ledger="$work/d2/.shipgate/ledger.jsonl"
sed -i '2s/"attempt":1/"attempt":7/' "$ledger"
expect 1 "line 3" "ledger: an edited line is detected" "$SHIPGATE" ledger verify "$work/d2/job.json"
sed -i '2s/"attempt":7/"attempt":1/' "$ledger"
expect 0 "chain intact" "ledger: restored, it verifies again" "$SHIPGATE" ledger verify "$work/d2/job.json"
sed -i '3d' "$ledger"
expect 1 "line 3" "ledger: a deleted line is detected" "$SHIPGATE" ledger verify "$work/d2/job.json"

expect 1 "ledger not trusted" "loop: a broken ledger is reported and not used to say 'seen before'" \
	"$SHIPGATE" loop "$work/d2/job.json" --agent "$work/idle.sh" --max-attempts 1 $WEAK
check "loop: ... so the diagnosis does not claim a history" sh -c "! grep -q 'seen .* times before' '$work/d2/shipgate-out/diagnosis.md'"
expect 2 "No such file" "ledger: verifying a ledger that does not exist is an error, not an intact chain" \
	"$SHIPGATE" ledger verify "$work/nonexistent/job.json"
# a torn last line (a crash mid-write) stays a line of its own: the next entry does not merge into it
demo d6
mkdir -p "$work/d6/.shipgate"
printf '{"seq":1,"torn' >"$work/d6/.shipgate/ledger.jsonl"
"$SHIPGATE" loop "$work/d6/job.json" --agent "$work/idle.sh" --max-attempts 1 $WEAK >/dev/null 2>&1 || true
check "ledger: an entry appended after a torn line starts on a new line" \
	sh -c "[ \"\$(sed -n 1p '$work/d6/.shipgate/ledger.jsonl')\" = '{\"seq\":1,\"torn' ] && sed -n 2p '$work/d6/.shipgate/ledger.jsonl' | grep -q '^{\"seq\"'"
# standalone decide writes into the ledger of the job only if that job file is the one that ran
lines_before=$(wc -l <"$work/d1/.shipgate/ledger.jsonl")
echo ' ' >>"$work/d1/job.json"
expect 1 "not the one the verdict ran" "decide: a changed job file's ledger is neither read nor written" \
	"$SHIPGATE" decide "$work/d1/shipgate-out/attempt-1/verdict.dsse.json" --out "$work/d1diag"
check "decide: ... and its ledger did not grow" test "$(wc -l <"$work/d1/.shipgate/ledger.jsonl")" -eq "$lines_before"
expect 1 "was not checked" "decide: without --workspace it says the subject was not checked" \
	"$SHIPGATE" decide "$work/d1/shipgate-out/attempt-1/verdict.dsse.json" --no-ledger --out "$work/d1diag"

# 6. the agent may not change the checks: a read-only mount (the acceptance tests) that
# changes between attempts stops the loop (exit 3) and the ledger says why
demo d4
mkdir -p "$work/d4/acceptance"
echo "the acceptance tests" >"$work/d4/acceptance/spec.txt"
"$PY" - "$work/d4/job.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["mounts"] = [{"source": "acceptance", "target": "/verify", "readonly": True}]
json.dump(j, open(sys.argv[1], "w"))
PY
expect 3 "changed since the loop started" "loop: an agent that edits a read-only mount stops the loop" \
	"$SHIPGATE" loop "$work/d4/job.json" --agent "echo weakened >>'$work/d4/acceptance/spec.txt'" --max-attempts 2 $WEAK
check "loop: the tamper is in the ledger" grep -q '"tamper"' "$work/d4/.shipgate/ledger.jsonl"
check "loop: nothing was verified after the tamper" test ! -e "$work/d4/shipgate-out/attempt-1/verdict.dsse.json"

# 7. what the agent leaves running is stopped before the verification starts
demo d5
expect 1 "" "loop: an agent that leaves a daemon behind" \
	"$SHIPGATE" loop "$work/d5/job.json" --agent "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo \$! >'$work/d5/daemon.pid'" --max-attempts 1 $WEAK
check "loop: the agent's daemon was killed" sh -c "pid=\$(cat '$work/d5/daemon.pid'); ! kill -0 \$pid 2>/dev/null"

# ... also a chain of 100 nested processes, whose deepest writes into the workspace later
demo d7
cat >"$work/chain.sh" <<AGENT
#!/bin/sh
"$PY" -c '
import os, sys, time
for depth in range(100):
    if os.fork() != 0:
        time.sleep(60); os._exit(0)
time.sleep(3)
open(sys.argv[1], "w").write("late")
' "$work/d7/calc/late.txt" </dev/null >/dev/null 2>&1 &
AGENT
chmod +x "$work/chain.sh"
expect 1 "DIAGNOSE" "loop: an agent that leaves a 100-deep process chain behind" \
	"$SHIPGATE" loop "$work/d7/job.json" --agent "$work/chain.sh" --max-attempts 1 $WEAK
sleep 4
check "loop: the whole chain was killed before verifying (nothing wrote late)" test ! -e "$work/d7/calc/late.txt"

# 7b. an agent that kills the key's signer process (it runs as we do) and then fixes the
# bug: the key is read again and the loop ships, and the ledger says the signer was
# killed (it used to end the loop with exit 3, blaming the sandbox)
cat >"$work/signer_killer.sh" <<'SH'
#!/bin/sh
L=$PPID
while [ "$(cat /proc/$L/comm)" != shipgate ]; do L=$(awk '{print $4}' /proc/$L/stat); done
kill -KILL $(pgrep -P "$L" -x shipgate-signer)
sed -i 's/v += rhs;/v *= rhs;/' calc/calc.c
SH
chmod +x "$work/signer_killer.sh"
demo d8
expect 0 "reading the key again" "loop: an agent that kills the signer: the key is read again, the fix ships" \
	"$SHIPGATE" loop "$work/d8/job.json" --agent "$work/signer_killer.sh" --max-attempts 1 $WEAK
check "loop: the ledger says the signer was killed" grep -q '"signer_killed":true' "$work/d8/.shipgate/ledger.jsonl"

# 7c. a loop stopped by a signal exits 128 + its number, as run does (it said 130 to any)
demo d9
for sig in TERM INT; do
	dur="30.$$$(date +%N | cut -c1-4)"
	"$SHIPGATE" loop "$work/d9/job.json" --agent "sleep $dur" --max-attempts 1 $WEAK </dev/null >/dev/null 2>&1 &
	L=$!
	for _ in $(seq 100); do pgrep -f "^sleep $dur" >/dev/null && break; sleep 0.1; done
	kill -$sig "$L"
	set +e
	wait "$L"
	rc=$?
	set -e
	want=143
	[ "$sig" = INT ] && want=130
	if [ "$rc" -eq "$want" ]; then ok "loop: SIG$sig during the agent -> exit $want"; else
		not_ok "loop: SIG$sig during the agent -> exit $want"; echo "#   exit $rc"; fi
	check "loop: SIG$sig: the agent is gone" sh -c "! pgrep -f '^sleep $dur'"
done

# 8. one loop per job at a time
exec 9>"$work/d5/.shipgate/loop.lock"
flock -n 9
expect 2 "another loop is running" "loop: a second loop on the same job is refused" \
	"$SHIPGATE" loop "$work/d5/job.json" --agent true --max-attempts 1 $WEAK
exec 9>&-

expect 2 "--agent" "loop: --agent is required" "$SHIPGATE" loop "$work/d2/job.json"
expect 2 "steps" "loop: a bad job file is exit 2 and nothing runs" \
	sh -c "echo '{\"version\":1,\"name\":\"x\"}' > '$work/bad.json'; '$SHIPGATE' loop '$work/bad.json' --agent true"

tap_done
