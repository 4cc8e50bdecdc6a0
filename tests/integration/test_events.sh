#!/bin/sh
# test_events.sh: `shipgate run --events` (docs/events.md). Each line is one JSON object;
# seq counts 1, 2, 3...; the kinds come in the documented order with their fields; a
# protected path written gives `violation`, a failing test `tests` with the counts, a
# service `service_ready` before its step ends; a job that cannot start gives `error`,
# a job file that does not parse too; `--events` takes digits as a descriptor and refuses
# what only looks like one (-1, 3x) and a descriptor not open for writing (3</dev/null),
# opens a FIFO without waiting for a reader (none: exit 2 at once); a reader that goes
# away does not stop the job.
#
# Environment (ctest sets it): SHIPGATE, SHIPGATE_SOURCE_DIR, SHIPGATE_TRY_SYSCALL.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
WEAK=""
[ "$(id -u)" -eq 0 ] || WEAK="--allow-weaker"

work=$(mktemp -d "${TMPDIR:-/tmp}/test-events.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME
export HOME="$work/home"
mkdir -p "$HOME"
"$SHIPGATE" keygen "$work/keys" >/dev/null
KEY="$work/keys/shipgate.key"

. "$(dirname "$0")/../tap.sh"
sg_run() { # DIR ARGS...: run, ignore the exit code (checked separately)
	set +e
	# shellcheck disable=SC2086
	"$SHIPGATE" run $WEAK "$@" --key "$KEY" --quiet
	rc=$?
	set -e
}

# the checker: every line JSON, seq 1..n, common fields, kinds in an allowed order
cat >"$work/check.py" <<'PYEOF'
import json, sys
path, want = sys.argv[1], sys.argv[2].split(",")
lines = open(path, encoding="utf-8").read().split("\n")
assert lines[-1] == "", "the stream ends with a newline"
evs = [json.loads(l) for l in lines[:-1]]
kinds = [e["event"] for e in evs]
assert kinds == want, "kinds %s, want %s" % (kinds, want)
for i, e in enumerate(evs, 1):
    assert e["seq"] == i, "seq %r at line %d" % (e.get("seq"), i)
    assert e["time"].endswith("Z") and "T" in e["time"], e["time"]
    # the job's name; an error before the job file was read has none
    assert isinstance(e.get("job"), str) or (e["event"] == "error" and "job" not in e), e
need = {
    "job_started": ["path", "sha256", "workspace", "out_dir", "mode", "cgroup_layout", "steps", "started"],
    "step_started": ["index", "step", "run", "timeout_s"],
    "step_finished": ["index", "step", "status", "reason", "limits_hit"],
    "tests": ["index", "step", "format", "total", "passed", "failed", "skipped", "min", "usable"],
    "service_ready": ["index", "step", "ready_ms"],
    "violation": ["index", "step", "reason", "violations"],
    "verdict_written": ["result", "reason", "steps", "subject_sha256", "out_dir", "statement", "verdict", "keyid", "interrupted"],
    "error": ["kind", "message"],
}
for e in evs:
    for f in need[e["event"]]:
        assert f in e, "%s lacks %s" % (e["event"], f)
    if e["event"] == "step_finished" and e["status"] != "skipped":
        for f in ["started", "finished", "exit_code", "signal", "wall_ms", "cpu_ms", "peak_memory_kb", "pids_peak"]:
            assert f in e, "step_finished lacks " + f
# the verdict event agrees with the statement
v = [e for e in evs if e["event"] == "verdict_written"]
if v:
    st = json.load(open(v[0]["statement"]))
    p = st["predicate"]
    assert v[0]["result"] == p["result"]
    assert [(s["name"], s["status"]) for s in v[0]["steps"]] == [(s["name"], s["status"]) for s in p["steps"]]
    assert v[0]["subject_sha256"] == st["subject"][0]["digest"]["sha256"]
    for e in evs:
        if e["event"] == "step_finished":
            s = p["steps"][e["index"]]
            assert (e["step"], e["status"], e.get("exit_code")) == (s["name"], s["status"], s.get("exit_code")), (e, s)
        if e["event"] == "tests":
            t = p["steps"][e["index"]]["tests"]
            assert (e["total"], e["passed"], e["failed"]) == (t["total"], t["passed"], t["failed"])
for expr in sys.argv[3:]:
    assert eval(expr, {"evs": evs}), expr
PYEOF
expect_events() { # DESC FILE KINDS [EXPR...]
	d=$1 f=$2 k=$3
	shift 3
	if "$PY" "$work/check.py" "$f" "$k" "$@" >"$work/check.out" 2>&1; then
		ok "$d"
	else
		not_ok "$d"
		sed 's/^/#   /' "$work/check.out" | tail -n 3
		sed 's/^/#   /' "$f" | cut -c1-200
	fi
}

# 1. the demo: build, TAP tests, a service
mkdir -p "$work/demo"
cp -R "$SRC/examples/demo/." "$work/demo/"
rm -rf "$work/demo/shipgate-out"
sg_run "$work/demo/job.json" --events "$work/demo.jsonl"
check "the demo passes (exit 0)" test "$rc" -eq 0
expect_events "the demo's events: started, 3 steps with tests and service_ready, verdict" "$work/demo.jsonl" \
	job_started,step_started,step_finished,step_started,tests,step_finished,step_started,service_ready,step_finished,verdict_written \
	'evs[4]["total"] == 10 and evs[4]["passed"] == 10 and evs[4]["usable"]' \
	'evs[-1]["result"] == "PASSED"' \
	'evs[0]["steps"] == ["build", "test", "launch"]'

# 2. to a file descriptor
sg_run "$work/demo/job.json" --events 7 7>"$work/fd.jsonl"
expect_events "--events 7 writes to fd 7" "$work/fd.jsonl" \
	job_started,step_started,step_finished,step_started,tests,step_finished,step_started,service_ready,step_finished,verdict_written

# 3. a failing test: tests with the failure count, then the rest skipped
mkdir -p "$work/failing/ws"
cat >"$work/failing/job.json" <<'JEOF'
{ "version": 1, "name": "failing", "workspace": "ws", "network": "none",
  "limits": { "memory_mb": 256, "pids": 64, "timeout_s": 60 },
  "steps": [ { "name": "build", "run": "true" },
             { "name": "test", "run": "printf '1..3\\nok 1 - a\\nnot ok 2 - b\\nok 3 - c\\n'; exit 1",
               "tests": { "format": "tap", "min": 1 } },
             { "name": "after", "run": "true" } ] }
JEOF
sg_run "$work/failing/job.json" --events "$work/failing.jsonl"
check "a failing test: exit 1" test "$rc" -eq 1
expect_events "a failing test: tests counts the failure, step_finished failed, the verdict FAILED" "$work/failing.jsonl" \
	job_started,step_started,step_finished,step_started,tests,step_finished,verdict_written \
	'evs[4]["total"] == 3 and evs[4]["failed"] == 1 and evs[4]["passed"] == 2' 'evs[5]["status"] == "failed"' \
	'evs[-1]["result"] == "FAILED"' \
	'[s["status"] for s in evs[-1]["steps"]] == ["passed", "failed", "skipped"]'

# 4. a protected path written: violation before step_finished
mkdir -p "$work/viol"
cp -R "$SRC/examples/demo/." "$work/viol/"
rm -rf "$work/viol/shipgate-out"
"$PY" - "$work/viol/job.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["steps"] = [{"name": "tamper", "run": "echo '// ok' >> test_calc.c"}]
json.dump(j, open(sys.argv[1], "w"))
PYEOF
sg_run "$work/viol/job.json" --events "$work/viol.jsonl"
check "a protected path written: exit 1" test "$rc" -eq 1
expect_events "a protected path written: violation, then step_finished with status violation" "$work/viol.jsonl" \
	job_started,step_started,violation,step_finished,verdict_written \
	'"test_calc.c" in evs[2]["reason"]' 'evs[3]["status"] == "violation"'

# 4b. a denied syscall (the runtime trace): violation names it, the step fails
if [ -n "${SHIPGATE_TRY_SYSCALL:-}" ] && [ -x "$SHIPGATE_TRY_SYSCALL" ]; then
	mkdir -p "$work/denied/ws"
	cp "$SHIPGATE_TRY_SYSCALL" "$work/denied/ws/try"
	printf '%s\n' '{"version":1,"name":"denied","workspace":"ws","steps":[{"name":"escape","run":["./try","ptrace"]}]}' \
		>"$work/denied/job.json"
	sg_run "$work/denied/job.json" --events "$work/denied.jsonl"
	check "a denied syscall: exit 1" test "$rc" -eq 1
	expect_events "a denied syscall: violation names ptrace and the program, then step_finished violation" \
		"$work/denied.jsonl" job_started,step_started,violation,step_finished,verdict_written \
		'evs[2]["violations"][0]["syscall"] == "ptrace" and evs[2]["violations"][0]["program"].endswith("/try")' \
		'evs[2]["fails"] and evs[3]["status"] == "violation" and evs[3]["execs"] >= 1'
fi

# 5. a job that cannot start: only error
mkdir -p "$work/nokey"
cp -R "$SRC/examples/demo/." "$work/nokey/"
cp "$KEY" "$work/nokey/calc/leaked.key"
set +e
# shellcheck disable=SC2086
"$SHIPGATE" run $WEAK "$work/nokey/job.json" --key "$work/nokey/calc/leaked.key" --quiet \
	--events "$work/nokey.jsonl" 2>/dev/null
rc=$?
set -e
check "a key inside the workspace: exit 2" test "$rc" -eq 2
expect_events "a key inside the workspace: one error event" "$work/nokey.jsonl" error \
	'evs[0]["kind"] == "usage" and "workspace" in evs[0]["message"]'

# 5b. a job file that does not parse: only error, naming what is wrong
mkdir -p "$work/badjob/ws"
printf '%s\n' '{"version":1,"name":"badjob","workspace":"ws","steps":[{"name":"s","run":"true","colour":"red"}]}' \
	>"$work/badjob/job.json"
set +e
"$SHIPGATE" run "$work/badjob/job.json" --key "$KEY" --quiet --events "$work/badjob.jsonl" 2>/dev/null
rc=$?
set -e
check "a bad job file: exit 2" test "$rc" -eq 2
expect_events "a bad job file: one error event naming the unknown key" "$work/badjob.jsonl" error \
	'evs[0]["kind"] == "usage" and "colour" in evs[0]["message"]'
# the same from stdin (what libshipgate hands its runner)
set +e
"$SHIPGATE" run - --base-dir "$work/badjob" --key "$KEY" --quiet --events 7 7>"$work/badjob-stdin.jsonl" \
	<"$work/badjob/job.json" 2>/dev/null
rc=$?
set -e
check "a bad job on stdin: exit 2" test "$rc" -eq 2
expect_events "a bad job on stdin: one error event" "$work/badjob-stdin.jsonl" error \
	'evs[0]["kind"] == "usage" and "colour" in evs[0]["message"]'

# 6. a bad --events
set +e
"$SHIPGATE" run "$work/demo/job.json" --events 99 --key "$KEY" --quiet 2>"$work/badfd.err"
rc=$?
set -e
check "--events on a closed fd: exit 2, named" sh -c "test $rc -eq 2 && grep -q 'events 99' '$work/badfd.err'"
# a descriptor open only for reading takes no event: refused before anything runs
rm -rf "$work/demo/shipgate-out"
set +e
"$SHIPGATE" run "$work/demo/job.json" --events 3 --key "$KEY" --quiet 3</dev/null 2>"$work/rdonly.err"
rc=$?
set -e
check "--events 3 with 3</dev/null: exit 2 ($rc), names --events and fd 3, nothing ran" \
	sh -c "test $rc -eq 2 && grep -q -- '--events 3: file descriptor 3 is not open for writing' '$work/rdonly.err' &&
		test ! -e '$work/demo/shipgate-out'"
sed 's/^/#   /' "$work/rdonly.err"
# open for reading and writing is a place to write
mkdir -p "$work/rw/ws"
printf '%s\n' '{"version":1,"name":"rw","workspace":"ws","limits":{"memory_mb":128,"pids":32},"steps":[{"name":"t","run":["true"]}]}' \
	>"$work/rw/job.json"
: >"$work/rw.jsonl"
set +e
# shellcheck disable=SC2086
"$SHIPGATE" run $WEAK "$work/rw/job.json" --events 3 --key "$KEY" --quiet 3<>"$work/rw.jsonl"
rc=$?
set -e
expect_events "--events 3 with 3<>FILE: the events (exit $rc)" "$work/rw.jsonl" \
	job_started,step_started,step_finished,verdict_written
# what looks like a descriptor but is not one is refused, never made a file of that name
mkdir -p "$work/cwd"
for arg in -1 3x +4; do
	set +e
	(cd "$work/cwd" && "$SHIPGATE" run "$work/demo/job.json" --events "$arg" --key "$KEY" --quiet 2>"$work/badarg.err")
	rc=$?
	set -e
	check "--events '$arg': exit 2 ($rc), not a descriptor, and no file made" \
		sh -c "test $rc -eq 2 && grep -q 'not a file descriptor' '$work/badarg.err' && test -z \"\$(ls -A '$work/cwd')\""
done
# a file whose name starts with a digit is written as ./NAME
mkdir -p "$work/tiny/ws"
printf '%s\n' '{"version":1,"name":"tiny","workspace":"ws","limits":{"memory_mb":128,"pids":32},"steps":[{"name":"t","run":["true"]}]}' \
	>"$work/tiny/job.json"
set +e
(cd "$work/cwd" && "$SHIPGATE" run $WEAK "$work/tiny/job.json" --events ./3x --key "$KEY" --quiet)
rc=$?
set -e
expect_events "--events ./3x writes the file 3x (exit $rc)" "$work/cwd/3x" job_started,step_started,step_finished,verdict_written
rm -f "$work/cwd/3x"
# a FIFO: no reader is an error at once (not a wait forever); with a reader, the events
mkfifo "$work/events.fifo"
set +e
timeout 10 "$SHIPGATE" run $WEAK "$work/tiny/job.json" --events "$work/events.fifo" --key "$KEY" --quiet \
	2>"$work/fifo.err"
rc=$?
set -e
check "--events FIFO without a reader: exit 2 at once ($rc), says so" \
	sh -c "test $rc -eq 2 && grep -q 'no reader' '$work/fifo.err'"
# the reader has the FIFO open before the job starts (else run rightly finds no reader):
# opened without waiting for a writer, then it waits for data and reads to the end
cat >"$work/fifo_reader.py" <<'PYEOF'
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2], "w").close()
out = open(sys.argv[3], "wb")
p = select.poll()
p.register(fd, select.POLLIN)
while p.poll(60000):
    data = os.read(fd, 65536)
    if not data:
        break
    out.write(data)
PYEOF
rm -f "$work/fifo.ready"
"$PY" "$work/fifo_reader.py" "$work/events.fifo" "$work/fifo.ready" "$work/fifo.jsonl" &
reader=$!
i=0
while [ ! -e "$work/fifo.ready" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
set +e
timeout 60 "$SHIPGATE" run $WEAK "$work/tiny/job.json" --events "$work/events.fifo" --key "$KEY" --quiet
rc=$?
set -e
wait "$reader" || true
check "--events FIFO with a reader: the job passes ($rc)" test "$rc" -eq 0
expect_events "--events FIFO with a reader: the reader gets the events" "$work/fifo.jsonl" \
	job_started,step_started,step_finished,verdict_written
# a directory, a socket: not a place for events
set +e
"$SHIPGATE" run "$work/tiny/job.json" --events "$work/cwd" --key "$KEY" --quiet 2>"$work/dir.err"
rc=$?
set -e
check "--events DIR: exit 2 ($rc)" test "$rc" -eq 2

# 7. a reader that goes away: the job goes on and writes its verdict
rm -rf "$work/demo/shipgate-out"
set +e
# shellcheck disable=SC2086
"$SHIPGATE" run $WEAK "$work/demo/job.json" --key "$KEY" --quiet --events 7 7>&1 | head -c 10 >/dev/null
set -e
check "a reader that closes the stream early does not stop the job" \
	"$SHIPGATE" verify "$work/demo/shipgate-out/verdict.dsse.json" --pub "$work/keys/shipgate.pub" --quiet

tap_done
