#!/bin/sh
# test_run_pipeline.sh: `shipgate run` end to end: steps share one copy-on-write layer and
# never touch the host workspace; a flood of output is capped in the logs but counted and
# digested in full, on both streams at once without deadlock; the demo job passes with a
# statement that says what was enforced, and fails when a bug is planted in it.
. "$(dirname "$0")/lib.sh"

plan 50

# ---- steps write, modify and delete; the host workspace does not change ----------------

J=$(new_tmp cow)
mkdir -p "$J/src/sub/deeper"
printf 'alpha\n' >"$J/src/a.txt"
printf 'bravo\n' >"$J/src/b.txt"
printf '#!/bin/sh\necho c\n' >"$J/src/c.sh"
chmod 755 "$J/src/c.sh"
printf 'deep\n' >"$J/src/sub/deeper/d.txt"
ln -s a.txt "$J/src/link"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "cow", "workspace": "src",
  "steps": [
    { "name": "write", "run": "set -e; echo built >out.bin; echo more >>a.txt; rm b.txt; chmod 600 c.sh; rm -r sub; ln -sf out.bin link; mkdir made" },
    { "name": "see", "run": "set -e; test \"$(cat out.bin)\" = built; grep -q more a.txt; test ! -e b.txt; test ! -e sub; test -d made; echo saw-all" }
  ] }
EOF
before=$(tree_listing "$J/src")
sg_run "$J/job.json" --out "$J/out"
is "$SG_RC" 0 "a job whose steps write, modify and delete files passes"
is "$(jget "$J/out/statement.json" '[s["status"] for s in d["predicate"]["steps"]]')" '["passed", "passed"]' \
	"both steps passed: the second step sees what the first one changed"
is "$(cat "$J/out/logs/see.stdout" 2>&1)" saw-all "the second step's log shows it checked every change"
after=$(tree_listing "$J/src")
if [ "$before" = "$after" ]; then
	pass "the host workspace is byte-for-byte unchanged after the job (contents, modes, links)"
else
	printf '%s\n' "$before" >"$TEST_TMP/before"
	printf '%s\n' "$after" >"$TEST_TMP/after"
	fail "the host workspace is byte-for-byte unchanged after the job (contents, modes, links)" \
		"$(diff "$TEST_TMP/before" "$TEST_TMP/after")"
fi
is "$(ls -A "$TMPDIR")" "" "the scratch layer is removed after the job"

# ---- extra mounts: read-only ones stay intact, writable ones take the results -----------

J=$(new_tmp mounts)
mkdir "$J/src" "$J/acc" "$J/results"
echo given >"$J/acc/given"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "mounts", "workspace": "src",
  "mounts": [ { "source": "acc", "target": "/verify" },
              { "source": "results", "target": "/results", "readonly": false } ],
  "steps": [ { "name": "use", "run": "set -e; test \"$(cat /verify/given)\" = given; if echo x >/verify/new 2>/dev/null; then echo wrote-read-only; exit 1; fi; echo result >/results/r.txt" } ] }
EOF
acc_before=$(tree_listing "$J/acc")
sg_run "$J/job.json" --out "$J/out"
S=$J/out/statement.json
is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" passed \
	"a step reads a read-only mount, cannot write it, and writes a writable one"
is "$(cat "$J/results/r.txt" 2>&1)" result "what it wrote in the writable mount is on the host"
is "$(tree_listing "$J/acc")" "$acc_before" "the read-only mount's directory is unchanged"
is "$(jget "$S" 'd["predicate"]["mounts_intact"]')" true "mounts_intact is true (the read-only mount hashes the same)"
is "$SG_RC" 0 "the job passes: writing into a mount marked readonly: false is not a change to a read-only mount"

# ---- 100 MB of output: capped, counted, digested ---------------------------------------

J=$(new_tmp flood)
mkdir "$J/src"
cat >"$J/job.json" <<'EOF'
{ "version": 1, "name": "flood", "workspace": "src",
  "limits": { "output_kb": 1024, "timeout_s": 60 },
  "steps": [ { "name": "zeros", "run": ["head", "-c", "100000000", "/dev/zero"] } ] }
EOF
zero_sha=$("$PY" -c 'import hashlib; print(hashlib.sha256(bytes(100000000)).hexdigest())')
t0=$(date +%s%N)
sg_run "$J/job.json" --out "$J/out"
took_ms=$((($(date +%s%N) - t0) / 1000000))
S=$J/out/statement.json
is "$SG_RC" 0 "a step printing 100 MB passes (took $took_ms ms)"
is "$(jget "$S" 'd["predicate"]["steps"][0]["stdout"]["bytes"]')" 100000000 "stdout.bytes counts all 100000000 bytes"
is "$(jget "$S" 'd["predicate"]["steps"][0]["stdout"]["sha256"]')" "$zero_sha" "stdout.sha256 is the sha256 of all 100000000 bytes"
is "$(jget "$S" 'd["predicate"]["steps"][0]["stdout"]["truncated"]')" true "stdout.truncated is true"
is "$(stat -c %s "$J/out/logs/zeros.stdout" 2>&1)" 1048576 "logs/zeros.stdout keeps exactly output_kb (1048576 bytes)"
ok "and what it keeps is the start of the output (zeros)" \
	"$PY" -c 'import sys; sys.exit(open(sys.argv[1], "rb").read() != bytes(1048576))' "$J/out/logs/zeros.stdout"

# both streams at once, interleaved in 64 KiB chunks: the supervisor must drain both
cat >"$J/src/both.py" <<'EOF'
import os
o, e = b"o" * 65536, b"e" * 65536
for _ in range(800):
    os.write(1, o)
    os.write(2, e)
EOF
cat >"$J/job2.json" <<'EOF'
{ "version": 1, "name": "flood2", "workspace": "src",
  "limits": { "output_kb": 1024, "timeout_s": 30 },
  "steps": [ { "name": "both", "run": ["python3", "both.py"] } ] }
EOF
o_sha=$("$PY" -c 'import hashlib; print(hashlib.sha256(b"o" * 65536 * 800).hexdigest())')
e_sha=$("$PY" -c 'import hashlib; print(hashlib.sha256(b"e" * 65536 * 800).hexdigest())')
sg_run "$J/job2.json" --out "$J/out2"
S=$J/out2/statement.json
is "$SG_RC" 0 "a step writing 52 MB to stdout and 52 MB to stderr, interleaved, passes (no deadlock, no timeout)"
is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" passed "its status is passed"
for stream in stdout stderr; do
	is "$(jget "$S" "d['predicate']['steps'][0]['$stream']['bytes']")" $((65536 * 800)) "$stream.bytes counts all of it"
	is "$(stat -c %s "$J/out2/logs/both.$stream" 2>&1)" 1048576 "logs/both.$stream keeps exactly 1048576 bytes"
done
is "$(jget "$S" 'd["predicate"]["steps"][0]["stdout"]["sha256"]')" "$o_sha" "stdout.sha256 is the digest of the whole stdout"
is "$(jget "$S" 'd["predicate"]["steps"][0]["stderr"]["sha256"]')" "$e_sha" "stderr.sha256 is the digest of the whole stderr"

# ---- the demo ----------------------------------------------------------------------------

# What the demo should do is read from its own job file, so that the demo can grow.
DEMO=$SHIPGATE_SOURCE_DIR/examples/demo
n_steps=$(jget "$DEMO/job.json" 'len(d["steps"])')
last_step=$(jget "$DEMO/job.json" 'd["steps"][-1]["name"]')
want_net=$(jget "$DEMO/job.json" 'd.get("network", "loopback")')
OUT=$(new_tmp demo-out)
demo_before=$(tree_listing "$DEMO")
sg_run "$DEMO/job.json" --out "$OUT"
S=$OUT/statement.json
is "$SG_RC" 0 "the demo job passes (exit 0)"
is "$(jget "$S" 'd["predicate"]["result"]')" PASSED "the demo statement says PASSED"
is "$(jget "$S" 'len(d["predicate"]["steps"])')" "$n_steps" "the statement has the demo's $n_steps steps"
is "$(jget "$S" 'sorted(set(s["status"] for s in d["predicate"]["steps"]))')" '["passed"]' \
	"every one of the demo's steps passed"
want_digest=$("$PY" "$SHIPGATE_SOURCE_DIR/tests/tools/tree_digest.py" "$DEMO/calc" | cut -d' ' -f1)
is "$(jget "$S" 'd["subject"][0]["digest"]["sha256"]')" "$want_digest" \
	"the subject digest is the tree digest of the demo's workspace"
is "$(jget "$S" 'sorted(d["predicate"]["enforced"]["namespaces"].items())')" \
	'[["cgroup", true], ["ipc", true], ["mount", true], ["net", true], ["pid", true], ["user", true], ["uts", true]]' \
	"enforced.namespaces: all seven are true"
is "$(jget "$S" 'd["predicate"]["enforced"]["seccomp"]["enabled"]')" true "enforced.seccomp.enabled is true"
num "$(jget "$S" 'd["predicate"]["enforced"]["seccomp"]["syscalls_allowed"]')" -gt 0 \
	"enforced.seccomp.syscalls_allowed counts the policy's allowed syscalls"
is "$(jget "$S" 'd["predicate"]["enforced"]["seccomp"]["default_deny"]')" true "enforced.seccomp.default_deny: the default policy is an allowlist"
is "$(jget "$S" 'd["predicate"]["enforced"]["capabilities_left"]')" 0 "enforced.capabilities_left is 0"
is "$(jget "$S" 'd["predicate"]["enforced"]["no_new_privs"]')" true "enforced.no_new_privs is true"
is "$(jget "$S" 'd["predicate"]["enforced"]["network"]')" "$want_net" "enforced.network is $want_net, as the job asks"
is "$(tree_listing "$DEMO")" "$demo_before" "the demo's source tree is unchanged (the build happened in the scratch layer)"
# the demo's service steps (the README's launch step): ready, and every probe the job
# names ran and passed, with its evidence
svc_want=$(jget "$DEMO/job.json" '[[s["name"], [p["name"] for p in s["service"].get("probes", [])]] for s in d["steps"] if "service" in s]')
svc_got=$(jget "$S" '[[s["name"], [p["name"] for p in s["probes"] if p["ran"] and p["passed"]]] for s in d["predicate"]["steps"] if "probes" in s]')
isnt "$svc_want" "[]" "the demo has a service step (launch) with probes"
is "$svc_got" "$svc_want" "each service step of the demo ran every probe and each passed"
is "$(jget "$S" 'all(s["ready"] is True and isinstance(s["ready_ms"], int) for s in d["predicate"]["steps"] if "probes" in s)')" true \
	"each service step of the demo is ready, with ready_ms"

# the demo with a planted bug: multiplication adds
BUG=$(new_tmp demo-bug)
cp -r "$DEMO/." "$BUG/"
rm -rf "$BUG/shipgate-out" "$BUG/.shipgate"
sed -i 's/v \*= rhs/v += rhs/' "$BUG/calc/calc.c"
ok "control: the bug is planted" grep -q 'v += rhs' "$BUG/calc/calc.c"
sg_run "$BUG/job.json" --out "$BUG/out"
S=$BUG/out/statement.json
is "$SG_RC" 1 "the demo with a planted bug fails (exit 1)"
is "$(jget "$S" 'd["predicate"]["result"]')" FAILED "its statement says FAILED"
is "$(jget "$S" 'd["predicate"]["steps"][0]["status"]')" passed "the build step passed"
is "$(jget "$S" '[s["status"] for s in d["predicate"]["steps"] if s["name"] == "test"]')" '["failed"]' \
	"the test step failed"
isnt "$(jget "$S" '[s["exit_code"] for s in d["predicate"]["steps"] if s["name"] == "test"][0]')" 0 \
	"the test step's exit code is not 0"
like "$(cat "$BUG/out/logs/test.stdout" 2>&1)" "^not ok .*2\+3\*4" "the test log shows the failing test"
is "$(jget "$S" 'd["predicate"]["steps"][-1]["status"]')" skipped "the last step ($last_step) was skipped"
unlike "$(jget "$S" 'd["predicate"]["reason"]')" "^<error" "the statement gives a reason"

statements_as_printed "$TEST_TMP" "test_run_pipeline"

done_testing
