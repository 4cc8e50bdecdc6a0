#!/bin/sh
# test_evidence_runtime.sh: does the app really start, and did the steps do only what they
# may? From the fixtures of tests/fixtures/:
# - services (a tiny Python HTTP server): ready and probed (http and run probes, ready_ms,
#   the probes' evidence); never listening (not_ready, its stderr tail in the evidence);
#   exiting before it is ready and dying during the probes (the exit status in the reason);
#   a probe that fails (probe_failed);
# - protection: a step that edits or deletes a protected file is a violation; a write into a
#   read-only mount fails and the mount stays intact; a writable mount is written;
#   changed_files lists exactly what the steps wrote, with sha256;
# - determinism: the pinned environment (TZ, LANG, SOURCE_DATE_EPOCH, PYTHONHASHSEED, HOME)
#   as a step sees it, and the job's env overriding it;
# - `repeat`: a flaky test is found (status flaky, its name in `flaky`), a stable one
#   passes with every run recorded, a broken one fails; decide says flaky.
# Each service fixture listens on its own port (18081-18085), inside the job's own network
# namespace.
. "$(dirname "$0")/lib.sh"

plan 86

FX=$SHIPGATE_SOURCE_DIR/tests/fixtures
fixtures_before=$(tree_listing "$FX")

# fixture JOB [STEP_INDEX]: run a fixture's job in place (copy-on-write: the source tree is
# never written) with the evidence in a fresh dir; S is the statement, T the step looked at
# (the last one unless STEP_INDEX)
fixture() {
	_out=$(new_tmp out)
	sg_run "$1" --out "$_out" --quiet
	S=$_out/statement.json
	T="d[\"predicate\"][\"steps\"][${2:--1}]"
}
# step EXPR: EXPR over the last step s (or the step T names)
step() { jget "$S" "(lambda s: $1)($T)"; }

# ---- services -------------------------------------------------------------------------------

SV=$FX/service
fixture "$SV/job-ok.json"
is "$SG_RC" 0 "service ok: the job passes"
is "$(step 's["status"]')" passed "service ok: the step passed"
is "$(step 's["ready"]')" true "service ok: ready is true"
ready_ms=$(step 's["ready_ms"]')
num "$ready_ms" -lt 10000 "service ok: ready_ms ($ready_ms) is within the ready timeout"
is "$(step '[[p["name"], p["passed"], p.get("http_status"), p.get("exit_code"), p["output"].strip()] for p in s["probes"]]')" \
	'[["health", true, 200, null, "ok"], ["add", true, 200, null, "5"], ["client", true, null, 0, "42"]]' \
	"service ok: every probe ran and passed, with its status or exit code and its output"
like "$(step 's["reason"]')" '^ready in [0-9]+ ms, 3 probes passed$' "service ok: the reason"
like "$(step 's["stderr"]["tail"]')" 'GET /add\?a=20&b=22' "service ok: the server's own log shows the run probe's request"

fixture "$SV/job-never.json"
is "$(step 's["status"]')" not_ready "service never listening: not_ready"
like "$(step 's["reason"]')" '^not ready after 2 s \([0-9]+ attempts; last: connect to port 18082: Connection refused\)$' \
	"service never listening: the reason says how long and what the last attempt got"
is "$(step '[s["ready"], s["ready_ms"]]')" '[false, null]' \
	"service never listening: ready false, ready_ms null"
like "$(step 's["stderr"]["tail"]')" 'waiting for a database that never comes' \
	"service never listening: its log tail (stderr) is in the evidence"
is "$(step '[p["ran"] for p in s["probes"]]')" '[false]' "service never listening: no probe ran"

fixture "$SV/job-crash.json"
is "$(step 's["status"]')" not_ready "service exiting before ready: not_ready"
is "$(step 's["reason"]')" "the service exited before it was ready (exit code 3)" \
	"service exiting before ready: the reason has the exit status"
is "$(step 's["exit_code"]')" 3 "service exiting before ready: exit_code 3"
like "$(step 's["stderr"]["tail"]')" 'config file /workspace/app.conf missing' "service exiting before ready: its stderr tail"

fixture "$SV/job-die.json"
is "$(step 's["status"]')" probe_failed "service dying during the probes: probe_failed"
like "$(step 's["reason"]')" "^probe 'add' failed: .*\(exit code 4\)$" \
	"service dying during the probes: the failing probe and the service's exit status"
is "$(step '[[p["name"], p["ran"], p["passed"]] for p in s["probes"][:2]]')" \
	'[["health", true, true], ["add", true, false]]' \
	"service dying during the probes: the first probe passed, the second failed"
# the third either never ran, or ran before init had reaped the dead service: either way
# it did not pass and says why
like "$(step '[s["probes"][2]["passed"], s["probes"][2]["reason"]]')" \
	'^\[false, ".*(not run: the service exited during the probes|\(the service had exited by then\))"\]$' \
	"service dying: the third probe did not pass, because the service was gone"

fixture "$SV/job-unhealthy.json"
is "$(step 's["status"]')" probe_failed "service answering 503: probe_failed"
is "$(step 's["reason"]')" "probe 'health' failed: HTTP status 503, expected 200" "service answering 503: the reason"
is "$(step 's["probes"][0]["output"]')" "database unreachable" "service answering 503: the body is in the probe's evidence"
is "$(step 's["ready"]')" true "service answering 503: it was ready (it listens), only the probe failed"

fixture "$SV/job-bgprobe.json"
is "$(step '[s["status"], [[p["name"], p["passed"]] for p in s["probes"]]]')" \
	'["passed", [["leaves-a-child", true], ["after", true]]]' \
	"a probe that leaves a child running still ends, and the next probe runs"
num "$(step 's["probes"][0]["elapsed_ms"]')" -lt 2000 \
	"a probe that leaves a child running ends when it exits, not at its timeout"
fixture "$SV/job-bigout.json"
like "$(step 's["reason"]')" 'does not contain "99999" \(only the first 32768 bytes of the output were kept and checked\)$' \
	"a probe whose output was cut says so in its failure"

# ---- protection and changed_files -------------------------------------------------------------

PR=$(new_tmp protect)
cp -r "$FX/protect/." "$PR/"
mkdir "$PR/written"
acc_before=$(tree_listing "$PR/acceptance")
ws_before=$(tree_listing "$PR/ws")

fixture "$PR/job-protected.json"
is "$SG_RC" 1 "protect: editing a protected file fails the job"
is "$(jget "$S" '[s["status"] for s in d["predicate"]["steps"]]')" '["violation", "skipped"]' \
	"protect: the editing step is a violation, the test after it is skipped"
is "$(jget "$S" 'd["predicate"]["steps"][0]["reason"]')" "modified the protected path tests/test_app.sh (written)" \
	"protect: the reason names the protected path"

fixture "$PR/job-protected-delete.json"
is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" violation "protect: deleting a protected file is a violation too"
like "$(jget "$S" 'd["predicate"]["steps"][0]["reason"]')" 'tests/test_app.sh \(deleted\)' "protect: the reason says deleted"

fixture "$PR/job-protected-swap.json"
is "$(jget "$S" '[s["status"] for s in d["predicate"]["steps"]]')" '["violation", "skipped"]' \
	"protect: replacing a protected file's directory with a symlink is a violation"
like "$(jget "$S" 'd["predicate"]["steps"][0]["reason"]')" 'protected paths below tests \(replaced\)' \
	"protect: the reason names the replaced directory"
fixture "$PR/job-protected-rmdir.json"
is "$(jget "$S" '[d["predicate"]["steps"][0]["status"], d["predicate"]["steps"][0]["reason"]]')" \
	'["violation", "modified the protected paths below tests (deleted)"]' \
	"protect: deleting a protected file's directory is a violation"
fixture "$PR/job-protected-unrelated.json"
is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" passed \
	"protect: replacing a directory with nothing protected below it is no violation"

fixture "$PR/job-readonly-mount.json"
is "$(step 's["status"]')" failed "read-only mount: the step that writes into it fails"
like "$(step 's["stderr"]["tail"]')" 'cannot create /verify/check.sh: Read-only file system' \
	"read-only mount: the write was refused by the kernel"
is "$(jget "$S" 'd["predicate"]["mounts_intact"]')" true "read-only mount: mounts_intact is true"
is "$(jget "$S" '[[m["target"], m["readonly"], m["sha256"]] for m in d["predicate"]["mounts"]]')" \
	"[[\"/verify\", true, \"$("$PY" "$SHIPGATE_SOURCE_DIR/tests/tools/tree_digest.py" "$PR/acceptance" | cut -d' ' -f1)\"]]" \
	"read-only mount: predicate.mounts carries its target and tree digest"
is "$(tree_listing "$PR/acceptance")" "$acc_before" "read-only mount: the host directory is unchanged"

fixture "$PR/job-writable.json"
is "$SG_RC" 0 "writable mount: the job passes"
is "$(cat "$PR/written/result.txt" 2>&1)" accepted "writable mount: what the step wrote there is on the host"
is "$(jget "$S" 'd["predicate"]["mounts_intact"]')" true "writable mount: the read-only one stays intact"
want=$("$PY" -c '
import hashlib, json
files = {"notes.txt": b"new notes\n", "out/app.txt": b"sum: 5\n"}
print(json.dumps([[p, "file", hashlib.sha256(c).hexdigest()] for p, c in sorted(files.items())]))')
is "$(jget "$S" '[[c["path"], c["kind"], c["sha256"]] for c in d["predicate"]["changed_files"]]')" "$want" \
	"changed_files: exactly the two files the steps wrote, with their sha256 (not /tmp, not the mounts)"
is "$(tree_listing "$PR/ws")" "$ws_before" "the host workspace is unchanged after all four jobs"

# ---- determinism: the pinned environment ---------------------------------------------------

fixture "$FX/env/job.json"
E1=$(cat "$(dirname "$S")/logs/env.stdout")
for kv in TZ=UTC LANG=C.UTF-8 SOURCE_DATE_EPOCH=315532800 PYTHONHASHSEED=0 HOME=/tmp SHIPGATE_SANDBOX=1 \
	APP_ENV=test date_zone=UTC epoch_date=1980-01-01 py_tzname=UTC py_encoding=UTF-8 home_writable=True; do
	like "$E1" "^$kv\$" "environment: a step sees $kv"
done
fixture "$FX/env/job.json"
E2=$(cat "$(dirname "$S")/logs/env.stdout")
h1=$(printf '%s\n' "$E1" | sed -n 's/^py_hash=//p')
is "$(printf '%s\n' "$E2" | sed -n 's/^py_hash=//p')" "$h1" "environment: Python's str hash is the same in two runs"
fixture "$FX/env/job-override.json"
E3=$(cat "$(dirname "$S")/logs/env.stdout")
like "$E3" '^TZ=Europe/Paris$' "environment: the job's env overrides TZ"
like "$E3" '^PYTHONHASHSEED=42$' "environment: and PYTHONHASHSEED"
isnt "$(printf '%s\n' "$E3" | sed -n 's/^py_hash=//p')" "$h1" "environment: another seed, another hash (the seed is what pins it)"

# ---- repeat: flaky tests ------------------------------------------------------------------------

FL=$FX/flaky
fixture "$FL/job-flaky.json" 0
is "$SG_RC" 1 "repeat flaky: the job fails"
is "$(step 's["status"]')" flaky "repeat flaky: the step is flaky"
is "$(step 's["flaky"]')" '["coin"]' "repeat flaky: the test that changed its result is named, and only it"
is "$(step '[r["status"] for r in s["runs"]]')" '["passed", "failed", "passed"]' "repeat flaky: the three runs are recorded"
is "$(step 's["evidence_from_run"]')" 2 "repeat flaky: the evidence shown is the failing run's"
like "$(step 's["reason"]')" '^1 test gave different results across 3 runs \(coin\); runs: passed, failed, passed$' \
	"repeat flaky: the reason"
ok "repeat flaky: each run has its own logs" test -s "$(dirname "$S")/logs/test.run-3.stdout"
is "$(jget "$S" 'd["predicate"]["steps"][1]["status"]')" skipped "repeat flaky: the step after it is skipped"
pub=$XDG_STATE_HOME/shipgate/shipgate.pub
# --no-ledger: the ledger would be beside the job file, in the source tree
DJ=$("$SHIPGATE" decide "$(dirname "$S")/verdict.dsse.json" --pub "$pub" --json --no-ledger 2>/dev/null)
printf '%s\n' "$DJ" >"$TEST_TMP/decision.json"
is "$(jget "$TEST_TMP/decision.json" '[d["decision"], d["category"]]')" '["DIAGNOSE", "tests_failed"]' \
	"repeat flaky: decide diagnoses tests_failed"
like "$(jget "$TEST_TMP/decision.json" 'd["summary"]')" '^flaky: ' "repeat flaky: and its summary says flaky"
is "$(jget "$TEST_TMP/decision.json" 'd["evidence"]["error_line"]')" "flaky: coin" "repeat flaky: the error line names the test"

fixture "$FL/job-flaky-junit.json" 0
is "$(step '[s["status"], s["flaky"]]')" '["flaky", ["coin"]]' \
	"repeat flaky (JUnit in the results channel, fresh for each run): flaky, coin"

fixture "$FL/job-stable.json" 0
is "$SG_RC" 0 "repeat stable: the job passes"
is "$(step '[s["status"], s["repeat"], len(s["runs"]), s["flaky"]]')" '["passed", 3, 3, []]' \
	"repeat stable: passed after 3 runs, none flaky"
like "$(step 's["reason"]')" '\(the same in all 3 runs\)$' "repeat stable: the reason says all runs agreed"
is "$(cat "$(dirname "$S")/logs/count.stdout")" 3 "repeat: the runs share the scratch layer (the counter reached 3)"

fixture "$FL/job-broken.json" 0
is "$(step '[s["status"], s["flaky"], s["evidence_from_run"]]')" '["failed", [], 1]' \
	"repeat broken: a test that always fails is failed, not flaky (the first run's evidence)"

# a run that times out ends the repetition: the step is timeout, not flaky
J=$(new_tmp repeat-timeout)
mkdir "$J/ws"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "repeat-timeout", "workspace": "ws", "network": "none",
  "steps": [ { "name": "test", "timeout_s": 1, "repeat": 4, "tests": { "format": "tap" },
               "run": "n=$(($(cat .n 2>/dev/null || echo 0) + 1)); echo $n >.n; echo 1..1; echo ok 1 - t; [ $n -lt 2 ] || sleep 30" } ] }
EOF
fixture "$J/job.json" 0
is "$(step '[s["status"], [r["status"] for r in s["runs"]], s["evidence_from_run"]]')" '["timeout", ["passed", "timeout"], 2]' \
	"repeat timeout: run 2 timed out, runs 3 and 4 never started, the step is timeout with run 2's evidence"
like "$(step 's["reason"]')" '^run 2 of 4: timed out after [0-9.]+ s \(limit 1 s\)' "repeat timeout: the reason names the run"

is "$(tree_listing "$FX")" "$fixtures_before" "the fixtures in the source tree are unchanged (the jobs ran copy-on-write)"

# a step's output tails: the last 2048 bytes of each stream, a NUL shown as a space. A
# stream its log holds whole gives its tail from the log when the statement is written
# (the supervisor no longer keeps 4 KiB per step); one cut at output_kb keeps its real
# end, which the log does not have
TJ=$(new_tmp tails)
mkdir "$TJ/ws"
cat >"$TJ/job.json" <<'EOF2'
{ "version": 1, "name": "tails", "workspace": "ws", "limits": { "output_kb": 4 },
  "steps": [ { "name": "whole", "run": "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done; printf 'a\\0b\\n'; echo err-end >&2" },
             { "name": "cut", "run": "i=0; while [ $i -lt 2000 ]; do echo cut-$i; i=$((i+1)); done" } ] }
EOF2
sg_run "$TJ/job.json" --out "$TJ/out" --quiet
TS=$TJ/out/statement.json
is "$(jget "$TS" 'd["predicate"]["steps"][0]["stdout"]["tail"] == open("'"$TJ"'/out/logs/whole.stdout", "rb").read()[-2048:].decode().replace("\0", " ")')" true \
	"a whole stream's tail is the end of its log, a NUL as a space"
like "$(jget "$TS" 'd["predicate"]["steps"][0]["stdout"]["tail"]')" "a b\$" "... it ends with what the step wrote last"
is "$(jget "$TS" 'd["predicate"]["steps"][0]["stderr"]["tail"]')" "err-end" "... stderr's too"
is "$(jget "$TS" '(d["predicate"]["steps"][1]["stdout"]["truncated"], d["predicate"]["steps"][1]["stdout"]["tail"].endswith("cut-1999\n"), len(d["predicate"]["steps"][1]["stdout"]["tail"]))')" \
	"[true, true, 2048]" "a stream cut at output_kb: its tail is the real end of the stream, 2048 bytes"

done_testing
