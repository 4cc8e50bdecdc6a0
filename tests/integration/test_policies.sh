#!/bin/sh
# test_policies.sh: every shipped policy runs its kind of real workload, on the host's
# root, and what a policy denies fails the step with a clear error:
#   build   compiles the demo (make, gcc) and a static program; network none by default,
#           the job's own "network" wins; a test suite that serves on loopback fails
#   test    runs a pytest fixture (with a loopback server) and a ctest fixture
#   launch  serves the demo's HTTP service on loopback, probed
#   strict  runs a static, threaded computation; the same program fails with EPERM when
#           it opens a socket or starts a second process
# and `shipgate policy check|show|list` accept the shipped policies and refuse bad files.
#
# Environment (ctest sets it): SHIPGATE, the binary; SHIPGATE_SOURCE_DIR; SHIPGATE_BUILD_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export SHIPGATE_POLICY_DIR="$SRC/policies"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
sg_run() {
	if [ "$(id -u)" -eq 0 ]; then "$SHIPGATE" run "$@"; else "$SHIPGATE" run --allow-weaker "$@"; fi
}

work=$(mktemp -d "${SHIPGATE_BUILD_DIR:-${TMPDIR:-/tmp}}/test-policies.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME XDG_CACHE_HOME
export HOME="$work/home"
mkdir -p "$HOME"

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
		printf '#   exit %s (want %s), want text: %s\n#   output: %s\n' "$rc" "$code" "$text" "$out"
	fi
}
# jq-like checks with Python's json (not shipgate's code): FILE EXPR WANT DESC
json_is() {
	got=$("$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"e": e}))' "$1" "$2" 2>&1) || true
	if [ "$got" = "$3" ]; then ok "$4"; else not_ok "$4"; echo "#   $2 = $got, want $3"; fi
}
# make_job DIR JSON: a job file from JSON written with ' for "
make_job() {
	mkdir -p "$1"
	printf '%s\n' "$2" | tr "'" '"' >"$1/job.json"
}

# ---- build, test (TAP), launch: the demo, each step under its kind's policy -----------
cp -R "$SRC/examples/demo" "$work/demo"
rm -rf "$work/demo/shipgate-out" "$work/demo/.shipgate"
"$PY" - "$work/demo/job.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j.pop("network", None)  # the policies decide
for step, policy in zip(j["steps"], ["build", "test", "launch"]):
    step["policy"] = policy
json.dump(j, open(sys.argv[1], "w"), indent=1)
EOF
expect 0 "PASSED" "demo: build, test and launch under their policies" sg_run "$work/demo/job.json"
st="$work/demo/shipgate-out/statement.json"
json_is "$st" '[s["policy"]["name"] for s in e["predicate"]["steps"]]' "['build', 'test', 'launch']" \
	"demo: each step records its policy"
json_is "$st" '[s["network"] for s in e["predicate"]["steps"]]' "['none', 'loopback', 'loopback']" \
	"demo: build has no network, test and launch loopback (the policies' defaults)"
json_is "$st" '(e["predicate"]["steps"][2]["probes"][1]["passed"], e["predicate"]["steps"][2]["probes"][1]["output"])' "(True, '14\\n')" \
	"launch: the HTTP service answered its probe over loopback"
json_is "$st" 'e["predicate"]["environment"]["rootfs"]' "host" "environment: the host's root"
json_is "$st" 'e["predicate"]["environment"]["os_release"]["ID"]' \
	"$(. /etc/os-release 2>/dev/null && echo "$ID")" "environment: the host's os-release ID"

# the job's own network wins over the policy's
"$PY" - "$work/demo/job.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["network"] = "loopback"
json.dump(j, open(sys.argv[1], "w"), indent=1)
EOF
expect 0 "PASSED" "demo with \"network\": \"loopback\" in the job" sg_run "$work/demo/job.json"
json_is "$st" 'e["predicate"]["steps"][0]["network"]' "loopback" \
	"build: the job's explicit network wins over the policy's none"

# ---- test: pytest and ctest fixtures ----------------------------------------------------
ws="$work/fixtures/ws"
mkdir -p "$ws"
cp -R "$SRC/tests/data/workloads/pytest" "$SRC/tests/data/workloads/ctest" "$ws/"
make_job "$work/fixtures" "{'version': 1, 'name': 'fixtures', 'workspace': 'ws',
  'limits': {'memory_mb': 1024, 'pids': 256, 'timeout_s': 300},
  'steps': [
    {'name': 'pytest', 'policy': 'test',
     'run': ['python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--junitxml=pytest.xml', 'pytest'],
     'tests': {'format': 'junit', 'path': 'pytest.xml', 'min': 4}},
    {'name': 'ctest', 'policy': 'test',
     'run': 'cmake -S ctest -B /tmp/b >/dev/null && cmake --build /tmp/b >/dev/null && ctest --test-dir /tmp/b --output-junit /workspace/ctest.xml',
     'tests': {'format': 'junit', 'path': 'ctest.xml', 'min': 2}}]}"
expect 0 "PASSED" "test: a pytest fixture and a ctest fixture pass under the test policy" \
	sg_run "$work/fixtures/job.json"
st="$work/fixtures/shipgate-out/statement.json"
json_is "$st" '(e["predicate"]["steps"][0]["tests"]["passed"], e["predicate"]["steps"][1]["tests"]["passed"])' \
	"(4, 2)" "test: 4 pytest and 2 ctest tests counted from their JUnit reports"

# the same pytest suite under build: its loopback server may not listen
make_job "$work/fixtures" "{'version': 1, 'name': 'fixtures', 'workspace': 'ws',
  'steps': [{'name': 'pytest', 'policy': 'build',
     'run': ['python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--junitxml=pytest.xml', 'pytest'],
     'tests': {'format': 'junit', 'path': 'pytest.xml', 'min': 4}}]}"
expect 1 "FAILED" "build: a test suite that serves on loopback fails under build" sg_run "$work/fixtures/job.json"
json_is "$st" '(e["predicate"]["steps"][0]["tests"]["passed"], e["predicate"]["steps"][0]["tests"]["failed"])' \
	"(3, 1)" "build: only the loopback test failed"
if grep -q "PermissionError\|Operation not permitted" "$work/fixtures/shipgate-out/logs/pytest.stdout"; then
	ok "build: the failure says why (PermissionError: Operation not permitted)"
else
	not_ok "build: the failure says why"
	tail -20 "$work/fixtures/shipgate-out/logs/pytest.stdout" | sed 's/^/#   /'
fi

# ---- strict: a static computation, and the same program reaching out ------------------
mkdir -p "$work/strict/ws"
cp "$SRC/tests/data/workloads/strict/compute.c" "$work/strict/ws/"
strict_job() { # ARGS-JSON POLICY
	make_job "$work/strict" "{'version': 1, 'name': 'strict', 'workspace': 'ws', 'steps': [
	  {'name': 'build', 'policy': 'build', 'run': ['gcc', '-static', '-O2', '-pthread', '-o', 'compute', 'compute.c']},
	  {'name': 'compute', 'policy': '$2', 'run': ['./compute'$1]}]}"
}
strict_job ", '1000000'" strict
expect 0 "PASSED" "strict: a static, threaded computation runs" sg_run "$work/strict/job.json"
if grep -qx "primes below 1000000: 78498" "$work/strict/shipgate-out/logs/compute.stdout"; then
	ok "strict: and computes the right answer"
else
	not_ok "strict: and computes the right answer"
fi
json_is "$work/strict/shipgate-out/statement.json" 'e["predicate"]["steps"][1]["network"]' "none" \
	"strict: network none by default"
strict_job ", '--socket'" strict
expect 1 "step 'compute' violation: denied socket (family=AF_INET type=SOCK_STREAM) by /workspace/compute" \
	"strict: the same program opening a socket fails, a violation naming the call" \
	sg_run "$work/strict/job.json"
json_is "$work/strict/shipgate-out/statement.json" \
	'[(v["syscall"], v["errno"], v["fails"]) for v in e["predicate"]["steps"][1]["violations"]]' \
	"[('socket', 'EPERM', True)]" "strict: the verdict records the denied socket call"
if grep -q "compute: socket: Operation not permitted" "$work/strict/shipgate-out/logs/compute.stderr"; then
	ok "strict: with a clear error (socket: Operation not permitted)"
else
	not_ok "strict: with a clear error"
	sed 's/^/#   /' "$work/strict/shipgate-out/logs/compute.stderr"
fi
strict_job ", '--spawn'" strict
expect 1 "violation: denied clone" "strict: the same program starting a second process fails" \
	sg_run "$work/strict/job.json"
if grep -q "compute: fork: Operation not permitted" "$work/strict/shipgate-out/logs/compute.stderr"; then
	ok "strict: fork is EPERM"
else
	not_ok "strict: fork is EPERM"
fi
strict_job ", '--socket'" test
expect 0 "PASSED" "the same socket under the test policy opens (the denial was strict's)" \
	sg_run "$work/strict/job.json"

# ---- shipgate policy ------------------------------------------------------------------
for p in build test launch strict default; do
	expect 0 "valid: policy \"$p\"" "policy check $p.json" "$SHIPGATE" policy check "$SRC/policies/$p.json"
done
data="$SRC/tests/data/policy"
expect 2 "$data/blocks_execve.json: seccomp.defaultAction: this policy blocks execve" \
	"policy check: an allowlist without execve" "$SHIPGATE" policy check "$data/blocks_execve.json"
expect 2 "this policy blocks exit_group" "policy check: an allowlist without exit_group" \
	"$SHIPGATE" policy check "$data/blocks_exit.json"
expect 2 "unknown syscall \"fooo\"" "policy check: an unknown syscall" \
	"$SHIPGATE" policy check "$data/unknown_syscall.json"
expect 2 "unknown action \"SCMP_ACT_PERMIT\"" "policy check: a bad action" \
	"$SHIPGATE" policy check "$data/unknown_action.json"
expect 2 "network: \"host\" cannot be a policy's default" "policy check: network host" \
	"$SHIPGATE" policy check "$data/network_host.json"
expect 2 "invalid JSON at line 6" "policy check: invalid JSON" "$SHIPGATE" policy check "$data/invalid_json.json"
expect 2 "nope.json: No such file or directory" "policy check: a missing file" "$SHIPGATE" policy check "$work/nope.json"
"$SHIPGATE" policy show build >"$work/build.json"
json_is "$work/build.json" '(e["name"], e["network"]["default"], e["network"]["from"])' \
	"('build', 'none', 'policy')" "policy show build: network none, from the policy"
json_is "$work/build.json" 'e["seccomp"]["defaultErrnoRet"]' "1" "policy show: defaults made explicit"
json_is "$work/build.json" 'e["sha256"]' "$(sha256sum "$SRC/policies/build.json" | cut -d' ' -f1)" \
	"policy show: the sha256 of the file's bytes"
"$SHIPGATE" policy show "$data/docker_style.json" >"$work/docker.json"
json_is "$work/docker.json" '(e["format"], e["network"]["default"], e["network"]["from"])' \
	"('bare OCI linux.seccomp', 'loopback', \"shipgate's default\")" "policy show: a bare OCI profile"
# the shipped policies' programs were compiled by the build; a user's file, or a shipped
# one with one byte changed, is compiled when loaded, into the same program when the rules
# are the same
if [ "${SHIPGATE_BUILTIN_SECCOMP:-1}" = 0 ]; then
	json_is "$work/build.json" 'e["program"]["made"]' "by libseccomp when loaded" \
		"policy show: a build without built-in programs compiles a shipped policy when loaded"
else
	json_is "$work/build.json" 'e["program"]["made"]' "at build time: a shipped policy's exact bytes" \
		"policy show: a shipped policy's program is built in"
fi
json_is "$work/docker.json" 'e["program"]["made"]' "by libseccomp when loaded" \
	"policy show: a user's policy is compiled when loaded"
sed '0,/  "name"/s//\t"name"/' "$SRC/policies/build.json" >"$work/build-tab.json"
"$SHIPGATE" policy show "$work/build-tab.json" >"$work/build-tab.out"
json_is "$work/build-tab.out" '(e["program"]["made"], e["program"]["instructions"])' \
	"$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print((
		"by libseccomp when loaded", e["program"]["instructions"]))' "$work/build.json")" \
	"policy show: build.json with a tab for a space is compiled when loaded, as long a program"
expect 0 "strict     network none" "policy list" "$SHIPGATE" policy list
expect 2 "usage: shipgate policy" "policy with no subcommand" "$SHIPGATE" policy

tap_done
