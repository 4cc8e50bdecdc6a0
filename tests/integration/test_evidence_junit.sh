#!/bin/sh
# test_evidence_junit.sh: did the tests really run? JUnit evidence from real test runners
# (CMake/ctest --output-junit, pytest --junitxml) in the fixtures of tests/fixtures/: each
# variant (passing, one failing, zero tests, a skip, a forged "all passed" on stdout, a
# malformed report, a report written into the workspace, a stale report committed with
# the project) gives the status it should, with the counts and the reason. Then hostile
# reports written by a step (billion laughs, an external entity, deep nesting, 100 MiB, a
# symlink to the host's /etc/passwd, a FIFO): the step fails with the reason, quickly, and
# shipgate stays small.
. "$(dirname "$0")/lib.sh"

plan 127

FX=$SHIPGATE_SOURCE_DIR/tests/fixtures
fixtures_before=$(tree_listing "$FX")

# fixture JOB: run a fixture's job in place (the workspace is copy-on-write: the source tree
# is never written) with the evidence in a fresh dir; sets S (the statement) and T (a
# Python expression for the last step)
fixture() {
	_out=$(new_tmp out)
	sg_run "$1" --out "$_out" --quiet
	S=$_out/statement.json
	T='d["predicate"]["steps"][-1]'
}

# expect NAME RC STATUS COUNTS REASON_ERE: the job's exit code, the last step's status,
# its tests as total/passed/failed/skipped, and its reason
expect() {
	is "$SG_RC" "$2" "$1: shipgate run exits $2"
	is "$(jget "$S" "${T}[\"status\"]")" "$3" "$1: the step is $3"
	is "$(jget "$S" "'%d/%d/%d/%d' % tuple(${T}['tests'][k] for k in ('total', 'passed', 'failed', 'skipped'))")" "$4" \
		"$1: tests total/passed/failed/skipped = $4"
	like "$(jget "$S" "${T}[\"reason\"]")" "$5" "$1: the reason says why"
}

# ---- CMake + ctest --output-junit ---------------------------------------------------------

C=$FX/c-ctest
fixture "$C/job-pass.json"
expect "ctest pass" 0 passed 2/2/0/0 '^exit code 0; 2 tests passed, 0 skipped$'
is "$(jget "$S" "${T}['tests']['source']")" "results channel" "ctest pass: the report came from the results channel"
is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" passed "ctest pass: the cmake build step passed"

fixture "$C/job-fail.json"
expect "ctest fail" 1 failed 3/2/1/0 '^exit code [1-9][0-9]*: the test command failed; 1 of 3 tests failed$'
is "$(jget "$S" "[(f['name'], f['message'].strip()) for f in ${T}['tests']['failures']]")" \
	'[["sub_wrong", "expected 3, got 2"]]' "ctest fail: the failing test is named, with its output"

fixture "$C/job-zero.json"
expect "ctest zero" 1 no_tests 0/0/0/0 '^0 tests ran \(0 skipped\), at least 1 required$'

fixture "$C/job-skip.json"
expect "ctest skip" 0 passed 3/2/0/1 '2 tests passed, 1 skipped'

fixture "$C/job-forged.json"
expect "ctest forged 'All tests PASSED'" 1 failed 3/2/1/0 '1 of 3 tests failed \(sub_wrong\) although the command exited 0'
like "$(jget "$S" "${T}['stdout']['tail']")" "All tests PASSED" "ctest forged: the lie is there on stdout, and counts for nothing"

fixture "$C/job-malformed.json"
expect "ctest malformed report" 1 failed 0/0/0/0 'junit.xml is malformed: malformed XML at line [0-9]+'

fixture "$C/job-workspace.json"
expect "ctest report in the workspace" 0 passed 2/2/0/0 '2 tests passed'
is "$(jget "$S" "${T}['tests']['source']")" "workspace (written by this step)" "ctest workspace: read from what the step wrote"

fixture "$C/job-stale.json"
expect "ctest stale report (committed)" 1 failed 0/0/0/0 'build/junit.xml was not written by this step'
ok "control: the stale report is a passing report, committed in the fixture" \
	grep -q '<testcase name="add"' "$C/ws/build/junit.xml"

# ---- pytest --junitxml ------------------------------------------------------------------------

P=$FX/py-pytest
fixture "$P/job-pass.json"
expect "pytest pass" 0 passed 2/2/0/0 '^exit code 0; 2 tests passed, 0 skipped$'

fixture "$P/job-fail.json"
expect "pytest fail" 1 failed 3/2/1/0 '^exit code 1: the test command failed; 1 of 3 tests failed$'
is "$(jget "$S" "${T}['tests']['failures'][0]['name']")" tests.test_wrong.test_add_wrong "pytest fail: the failing test is named"
like "$(jget "$S" "${T}['tests']['failures'][0]['message']")" '2 \+ 2 should be 5' "pytest fail: with pytest's message"

# pytest exits 5 when it collected nothing: no_tests, not a plain failure
fixture "$P/job-zero.json"
expect "pytest zero" 1 no_tests 0/0/0/0 '^exit code 5: the test command exited non-zero and its report lists 0 tests that ran'

fixture "$P/job-skip.json"
expect "pytest skip" 0 passed 3/2/0/1 '2 tests passed, 1 skipped'

fixture "$P/job-forged.json"
expect "pytest forged 'All tests PASSED'" 1 failed 3/2/1/0 'although the command exited 0'

fixture "$P/job-malformed.json"
expect "pytest malformed report" 1 failed 0/0/0/0 'junit.xml is malformed: malformed XML'

fixture "$P/job-workspace.json"
expect "pytest report in the workspace" 0 passed 2/2/0/0 '2 tests passed'
is "$(jget "$S" '[c["path"] for c in d["predicate"]["changed_files"]]')" '["reports/junit.xml"]' \
	"pytest workspace: the report is the one file the step wrote"

fixture "$P/job-stale.json"
expect "pytest stale report (committed)" 1 failed 0/0/0/0 'reports/junit.xml was not written by this step'

# a report written by an earlier step is stale for the test step too
J=$(new_tmp stale-step)
mkdir "$J/ws"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "stale-step", "workspace": "ws", "network": "none",
  "steps": [
    { "name": "build", "run": "printf '<testsuite><testcase name=\"t\"/></testsuite>' >junit.xml" },
    { "name": "test", "run": "echo 'All tests PASSED'", "tests": { "format": "junit", "path": "junit.xml" } } ] }
EOF
fixture "$J/job.json"
expect "report from an earlier step" 1 failed 0/0/0/0 'junit.xml is stale: an earlier step wrote it and this step did not'

# touching a committed or earlier report (chmod, a hard link) copies it up unchanged: still stale
J=$(new_tmp stale-touch)
mkdir -p "$J/ws/build"
printf '<testsuite><testcase name="t"/></testsuite>' >"$J/ws/build/junit.xml"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "stale-touch", "workspace": "ws", "network": "none",
  "steps": [
    { "name": "test", "run": "chmod 644 build/junit.xml; ln build/junit.xml build/other.xml",
      "tests": { "format": "junit", "path": "build/junit.xml" } } ] }
EOF
fixture "$J/job.json"
expect "committed report only chmod'ed and linked" 1 failed 0/0/0/0 'build/junit.xml is stale: it has the same contents as before this step'
cat >"$J/job2.json" <<'EOF'
{ "version": 1, "name": "stale-touch-2", "workspace": "ws", "network": "none",
  "steps": [
    { "name": "build", "run": "printf '<testsuite><testcase name=\"u\"/></testsuite>' >junit2.xml" },
    { "name": "test", "run": "chmod 600 junit2.xml", "tests": { "format": "junit", "path": "junit2.xml" } } ] }
EOF
fixture "$J/job2.json"
expect "earlier step's report only chmod'ed" 1 failed 0/0/0/0 'junit2.xml is stale'

# ... and a committed report that does not even parse, rewritten with the same bytes, is
# stale too, not "malformed": the parser stops at its first error, the stale check reads
# the whole file (160 KB, more than the parser's 64 KiB pieces)
J=$(new_tmp stale-malformed)
mkdir -p "$J/ws/build"
{ printf '<bad attr=>\n'; head -c 160000 /dev/zero | tr '\0' x; } >"$J/ws/build/j.xml"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "stale-malformed", "workspace": "ws", "network": "none",
  "steps": [
    { "name": "test", "run": "cp build/j.xml /tmp/j.xml; cat /tmp/j.xml >build/j.xml",
      "tests": { "format": "junit", "path": "build/j.xml" } } ] }
EOF
fixture "$J/job.json"
expect "a committed malformed report rewritten unchanged" 1 failed 0/0/0/0 'build/j.xml is stale: it has the same contents as before this step'

# ---- hostile reports ------------------------------------------------------------------------

H=$FX/hostile-junit
# hostile MODE REASON_ERE: the step fails with the reason, in little time, with little
# memory (the max RSS of shipgate and everything it waited for), and the report's target
# never reaches the evidence
hostile() {
	_out=$(new_tmp hostile)
	_figures=$("$PY" - "$SHIPGATE" "$H/job-$1.json" "$_out" <<'EOF'
import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.call([sys.argv[1], "run", sys.argv[2], "--out", sys.argv[3], "--quiet"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
ms = int((time.monotonic() - t0) * 1000)
print(rc, ms, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
)
	# shellcheck disable=SC2086 # three numbers, split on purpose
	set -- "$@" $_figures
	S=$_out/statement.json
	is "$3" 1 "hostile $1: shipgate run exits 1 (the candidate failed)"
	is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" failed "hostile $1: the step failed"
	like "$(jget "$S" 'd["predicate"]["steps"][0]["reason"]')" "$2" "hostile $1: the reason says why"
	num "$4" -lt 10000 "hostile $1: shipgate finished in $4 ms (< 10 s)"
	# billion laughs expanded would take 3 GB; the sanitizer build itself needs some room
	num "$5" -lt 262144 "hostile $1: max RSS $5 KB (< 256 MB)"
	unlike "$(cat "$S")" 'root:x:0:0|lololol' "hostile $1: nothing expanded or read reaches the evidence"
}
hostile laughs 'DOCTYPE/entities are not allowed in a test report \(line 2\)'
hostile xxe 'DOCTYPE/entities are not allowed in a test report \(line 2\)'
hostile deep 'nested deeper than 64 levels'
hostile huge 'larger than 64 MiB'
hostile symlink 'is a symlink or leaves the workspace: refused'
hostile fifo 'is not a regular file'

is "$(tree_listing "$FX")" "$fixtures_before" "the fixtures in the source tree are unchanged (the jobs ran copy-on-write)"

statements_as_printed "$TEST_TMP" "test_evidence_junit"

done_testing
