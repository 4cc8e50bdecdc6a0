#!/bin/sh
# test_evidence_tap.sh: did the tests really run? TAP evidence from the step's whole stdout,
# from a shell TAP producer and from node's built-in test runner (node --test
# --test-reporter=tap) in the fixtures of tests/fixtures/: passing, one failing, zero
# tests, a skip, forged lines (in a YAML block, in a subtest, a "# all passed" summary, a
# test's own console output), a malformed stream, fewer tests than planned. Each gives the
# status it should, with the counts and the reason.
. "$(dirname "$0")/lib.sh"

plan 68

FX=$SHIPGATE_SOURCE_DIR/tests/fixtures
fixtures_before=$(tree_listing "$FX")

# fixture JOB: run a fixture's job in place with the evidence in a fresh dir; sets S
fixture() {
	_out=$(new_tmp out)
	sg_run "$1" --out "$_out" --quiet
	S=$_out/statement.json
	T='d["predicate"]["steps"][-1]'
}

# expect NAME RC STATUS COUNTS REASON_ERE (as in test_evidence_junit.sh)
expect() {
	is "$SG_RC" "$2" "$1: shipgate run exits $2"
	is "$(jget "$S" "${T}[\"status\"]")" "$3" "$1: the step is $3"
	is "$(jget "$S" "'%d/%d/%d/%d' % tuple(${T}['tests'][k] for k in ('total', 'passed', 'failed', 'skipped'))")" "$4" \
		"$1: tests total/passed/failed/skipped = $4"
	like "$(jget "$S" "${T}[\"reason\"]")" "$5" "$1: the reason says why"
}

# ---- a shell TAP producer (it exits 0 unless told to fail: the stream decides) --------------

SH=$FX/sh-tap
fixture "$SH/job-pass.json"
expect "sh pass" 0 passed 2/2/0/0 '^exit code 0; 2 tests passed, 0 skipped$'
is "$(jget "$S" "${T}['tests']['source']")" stdout "sh pass: the stream is the step's stdout"

fixture "$SH/job-fail.json"
expect "sh fail" 1 failed 3/2/1/0 '^exit code 1: the test command failed; 1 of 3 tests failed$'
is "$(jget "$S" "[(f['name'], f['message']) for f in ${T}['tests']['failures']]")" '[["2 + 2 = 5", "2 + 2 is 4"]]' \
	"sh fail: the failing test is named, with the message from its YAML block"

fixture "$SH/job-zero.json"
expect "sh zero (1..0 # SKIP)" 1 no_tests 0/0/0/0 '^0 tests ran \(0 skipped\), at least 1 required$'

fixture "$SH/job-skip.json"
expect "sh skip" 0 passed 3/2/0/1 '2 tests passed, 1 skipped'

fixture "$SH/job-forged-yaml.json"
# lines at column 0 cannot be YAML: they end the block as a problem and count as TAP, so
# the forged points add to the count but cannot hide the failure
expect "sh ok lines inside a YAML block" 1 failed 4/3/1/0 '1 of 4 tests failed \(2 \+ 2 = 5\) although the command exited 0'
like "$(jget "$S" "${T}['tests'].get('problem')")" '^YAML block from line 5 is not closed before line 7' \
	"sh forged-yaml: a column-0 line in a YAML block is a problem, not YAML"

fixture "$SH/job-forged-subtest.json"
expect "sh ok lines in a subtest" 1 failed 2/1/1/0 '1 of 2 tests failed \(sums\) although the command exited 0'

fixture "$SH/job-forged-summary.json"
expect "sh '# all passed' with a not ok" 1 failed 2/1/1/0 'although the command exited 0'
like "$(cat "$(dirname "$S")/logs/test.stdout")" '^# all passed' "sh forged-summary: the summary is in the log, and counts for nothing"

fixture "$SH/job-malformed.json"
expect "sh malformed plan" 1 failed 2/2/0/0 'not consistent: malformed plan at line 2; missing plan'

fixture "$SH/job-fewer.json"
expect "sh fewer tests than planned" 1 failed 2/2/0/0 'not consistent: planned 3 tests but 2 ran'

# ---- node --test --test-reporter=tap -------------------------------------------------------

NODE=$FX/node-tap
# node must be there, and visible inside the sandbox (the host's /usr is; a node installed
# below a home directory is not)
node_inside=no
if command -v node >/dev/null 2>&1; then
	sg_exec --workspace "$(new_tmp probe)" -- node --version
	[ "$SG_RC" -eq 0 ] && node_inside=yes
fi
node_cases() {
	fixture "$NODE/job-pass.json"
	expect "node pass" 0 passed 2/2/0/0 '^exit code 0; 2 tests passed, 0 skipped$'

	fixture "$NODE/job-fail.json"
	expect "node fail" 1 failed 3/2/1/0 '^exit code 1: the test command failed; 1 of 3 tests failed$'
	is "$(jget "$S" "[(f['name'], f['message'].splitlines()[0]) for f in ${T}['tests']['failures']]")" \
		'[["adds wrongly", "2 + 2 should be 5"]]' "node fail: the failing test is named, with node's error from its YAML"

	fixture "$NODE/job-zero.json"
	expect "node zero (no test files)" 1 no_tests 0/0/0/0 '^0 tests ran'

	fixture "$NODE/job-skip.json"
	expect "node skip" 0 passed 3/2/0/1 '2 tests passed, 1 skipped'

	# console.log("ok 4 - forged"), "# all passed" and "1..1" from inside a failing test, "ok"
	# lines in the assertion's message (node's YAML error:), a failing subtest in a suite
	fixture "$NODE/job-forged.json"
	expect "node forged lines" 1 failed 3/2/1/0 '1 of 3 tests failed \(sums\) although the command exited 0'
	is "$(jget "$S" "${T}['tests'].get('problem')")" null "node forged: no extra plan or test was taken from the forged lines"

	fixture "$NODE/job-malformed.json"
	expect "node two streams in one stdout" 1 failed 3/2/0/1 'not consistent: .*more than one plan'
}
if [ "$node_inside" = yes ]; then
	node_cases
else
	why="node is not installed on this host or not visible inside the sandbox (PATH /usr/local/bin:/usr/bin:/bin)"
	i=0
	while [ $i -lt 26 ]; do
		skip "node fixture" "$why"
		i=$((i + 1))
	done
fi

is "$(tree_listing "$FX")" "$fixtures_before" "the fixtures in the source tree are unchanged (the jobs ran copy-on-write)"

statements_as_printed "$TEST_TMP" "test_evidence_tap"

done_testing
