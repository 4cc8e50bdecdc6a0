#!/bin/sh
# test_api.sh: libshipgate as another program sees it.
# - `cmake --install` into a temporary prefix puts the library, the public headers and
#   shipgate.pc there; examples/api/run_job.c builds with the system compiler and
#   `pkg-config --cflags --libs shipgate` against that prefix and nothing else;
# - the example, run on a copy of examples/demo/job.json, gets the same statement fields
#   (result, steps and their statuses, subject digest, job and policy digests) as
#   `shipgate run` on another copy, and its verdict verifies with `shipgate verify`;
# - the library exports exactly the public API, and the public headers compile alone;
# - two threads run two jobs through the library at once, and an interrupt flag stops a
#   running step (tests/tools/api_threads.c), leaving no process behind;
# - a caller killed with SIGKILL takes its job with it: the runner tears the step down as
#   on SIGTERM (an ERROR verdict, interrupted), nothing is left running;
# - a handle is what runs: a job file rewritten after sg_job_open, a chdir() after a key
#   was opened by a relative path change neither the job, nor the key that signs, nor the
#   file the key's hiding place is checked on (tests/tools/api_handles.c);
# - a run config whose size was never set (memset to 0, then filled in) is refused with
#   SG_ERR_USAGE naming `size`, before anything runs (tests/tools/api_handles.c);
# - where libcrypto cannot be loaded (hidden in a mount namespace), the calls that need it
#   (keys, verifying) return an error and the program goes on, jobs still open (their
#   digests are shipgate's own SHA-256), while the CLI exits 3 (tests/tools/api_handles.c).
#
# Environment (ctest sets it): SHIPGATE, SHIPGATE_SOURCE_DIR, SHIPGATE_BUILD_DIR,
# SHIPGATE_API_THREADS, SHIPGATE_API_HANDLES, SHIPGATE_SANITIZE.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
: "${SHIPGATE_BUILD_DIR:?set SHIPGATE_BUILD_DIR to the build directory}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
CC=${CC:-cc}
for tool in cmake pkg-config "$CC"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed"
		exit 77
	fi
done
WEAK=""
if [ "$(id -u)" -ne 0 ]; then
	WEAK="--allow-weaker"
	export SHIPGATE_ALLOW_WEAKER=1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/test-api.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME SHIPGATE_POLICY_DIR
export HOME="$work/home"
mkdir -p "$HOME"

. "$(dirname "$0")/../tap.sh"

# ---- install, then build the example as an outsider would ----------------------------
prefix="$work/prefix"
check "cmake --install into a temporary prefix" \
	sh -c "cmake --install '$SHIPGATE_BUILD_DIR' --prefix '$prefix' >'$work/install.log' 2>&1"
pc=$(find "$prefix" -name shipgate.pc | head -n 1)
check "shipgate.pc is installed" test -n "$pc"
libdir=$(dirname "$(dirname "$pc")")
check "libshipgate.so.1 and its development link are installed" \
	sh -c "test -e '$libdir/libshipgate.so.1' && test -L '$libdir/libshipgate.so'"
check "the public headers are installed" \
	sh -c "test -f '$prefix/include/shipgate/shipgate.h' && test -f '$prefix/include/shipgate/error.h'"
check "the policies are installed where the library looks for them" \
	test -f "$prefix/share/shipgate/policies/default.json"
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs shipgate)
echo "# pkg-config --cflags --libs shipgate: $flags"
san=""
[ "${SHIPGATE_SANITIZE:-OFF}" = "ON" ] && san="-fsanitize=address,undefined"
# shellcheck disable=SC2086
check "examples/api/run_job.c builds with \$(pkg-config --cflags --libs shipgate)" \
	"$CC" -std=c11 -Wall -Wextra -Werror $san -o "$work/run_job" "$SRC/examples/api/run_job.c" $flags
export LD_LIBRARY_PATH="$libdir"
check "run_job loads the installed libshipgate.so.1" \
	sh -c "ldd '$work/run_job' | grep -q '$libdir/libshipgate.so.1'"

# the public headers stand alone, in C and (if there is a compiler for it) C++
printf '#include <shipgate/shipgate.h>\nint main(void) { sg_run_config c = SG_RUN_CONFIG_INIT; return (int)c.size == 0; }\n' >"$work/alone.c"
check "shipgate.h compiles alone (-std=c11 -pedantic -Werror)" \
	"$CC" -std=c11 -pedantic -Wall -Wextra -Werror -I"$prefix/include" -c -o "$work/alone.o" "$work/alone.c"
if command -v c++ >/dev/null 2>&1; then
	printf '#include <shipgate/shipgate.h>\nint main() { return sg_api_version() == 0; }\n' >"$work/alone.cc"
	check "shipgate.h compiles as C++" c++ -Wall -Werror -I"$prefix/include" -c -o "$work/alone_cc.o" "$work/alone.cc"
fi

# only the public API is exported: every dynamic symbol is declared in include/shipgate/
nm -D --defined-only "$libdir/libshipgate.so.1" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}' | sort >"$work/exported"
cat "$prefix"/include/shipgate/*.h | grep -o '^SG_API [^(]*(' | sed 's/.*[ *]\([a-z_0-9]*\)($/\1/' | sort >"$work/declared"
check "libshipgate.so exports exactly the SG_API declarations ($(wc -l <"$work/exported") symbols)" \
	cmp -s "$work/exported" "$work/declared"
cmp -s "$work/exported" "$work/declared" || diff "$work/exported" "$work/declared" | sed 's/^/#   /'

# ---- the example and the CLI on the same job --------------------------------------------
"$SHIPGATE" keygen "$work/keys" >/dev/null
mkdir -p "$work/cli" "$work/api"
cp -R "$SRC/examples/demo/." "$work/cli/"
cp -R "$SRC/examples/demo/." "$work/api/"
rm -rf "$work/cli/shipgate-out" "$work/api/shipgate-out"
set +e
# shellcheck disable=SC2086
"$SHIPGATE" run $WEAK "$work/cli/job.json" --key "$work/keys/shipgate.key" --quiet
cli_rc=$?
"$work/run_job" "$work/api/job.json" "$work/keys/shipgate.key" "$work/keys/shipgate.pub" \
	>"$work/api-statement.json" 2>"$work/api.err"
api_rc=$?
set -e
check "run_job exits as shipgate run does ($api_rc, $cli_rc)" test "$api_rc" -eq "$cli_rc"
check "the job passed" test "$cli_rc" -eq 0
check "run_job printed statement.json byte for byte" \
	cmp -s "$work/api-statement.json" "$work/api/shipgate-out/statement.json"
check "run_job's verdict verifies with shipgate verify --workspace" \
	"$SHIPGATE" verify "$work/api/shipgate-out/verdict.dsse.json" --pub "$work/keys/shipgate.pub" \
	--workspace "$work/api/calc" --quiet
check "run_job streamed events (job_started ... verdict_written)" \
	sh -c "grep -q '^event: {\"event\":\"job_started\"' '$work/api.err' && grep -q '^event: {\"event\":\"verdict_written\"' '$work/api.err'"
if [ -z "$WEAK" ]; then
	check "run_job decided SHIP" grep -q 'run_job: SHIP' "$work/api.err"
else
	# rootless without a delegated cgroup nothing ships: the limits were not enforced
	check "run_job decided (DIAGNOSE: weaker isolation never ships)" grep -q 'run_job: DIAGNOSE' "$work/api.err"
fi
cat >"$work/same.py" <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
def fields(s):
    p = s["predicate"]
    return {
        "result": p["result"],
        "reason": p["reason"],
        "steps": [(x["name"], x["status"], x.get("exit_code")) for x in p["steps"]],
        "subject": s["subject"],
        "job_sha256": p["job"]["sha256"],
        "policy": p["policy"],
        "predicateType": s["predicateType"],
        "enforced": p["enforced"] and {k: v for k, v in p["enforced"].items() if k != "identity"},
    }
fa, fb = fields(a), fields(b)
for k in fa:
    if fa[k] != fb[k]:
        print("#   %s differs: CLI %r, API %r" % (k, fa[k], fb[k]))
sys.exit(0 if fa == fb else 1)
PYEOF
check "the API's statement has the CLI's result, reason, steps, subject, job, policy and enforcement" \
	"$PY" "$work/same.py" "$work/cli/shipgate-out/statement.json" "$work/api/shipgate-out/statement.json"

# a job error is reported as the CLI reports it (exit 2, the JSON path named)
printf '{"version": 1, "name": "bad", "steps": [{"name": "x", "run": []}]}\n' >"$work/api/bad.json"
set +e
"$work/run_job" "$work/api/bad.json" "$work/keys/shipgate.key" "$work/keys/shipgate.pub" >/dev/null 2>"$work/bad.err"
bad_rc=$?
set -e
check "a bad job: exit 2 and the JSON path in the message" \
	sh -c "test $bad_rc -eq 2 && grep -q 'steps\[0\].run' '$work/bad.err'"

# the runner's interface: the job's bytes on stdin as if they were a file, the key on a pipe
mkdir -p "$work/stdin/ws"
printf '%s\n' '{"version": 1, "name": "piped", "workspace": "ws", "limits": {"memory_mb": 128, "pids": 32},' \
	' "steps": [{"name": "t", "run": ["true"]}]}' >"$work/stdin/job.json"
set +e
# shellcheck disable=SC2086
"$SHIPGATE" run $WEAK - --job-path "$work/stdin/as-if.json" --key-fd 5 --quiet --out "$work/stdin/out" \
	<"$work/stdin/job.json" 5<"$work/keys/shipgate.key"
pipe_rc=$?
set -e
check "run - --job-path PATH --key-fd 5: passes ($pipe_rc), named PATH, signed by the key from fd 5" \
	sh -c "test $pipe_rc -eq 0 && grep -q '\"path\":.*\"$work/stdin/as-if.json\"' '$work/stdin/out/statement.json' &&
		'$SHIPGATE' verify '$work/stdin/out/verdict.dsse.json' --pub '$work/keys/shipgate.pub' --quiet"
set +e
"$SHIPGATE" run - --job-path "$work/stdin/job.json" --key-fd 5 --key "$work/keys/shipgate.key" \
	<"$work/stdin/job.json" 5<"$work/keys/shipgate.key" 2>/dev/null
both_rc=$?
set -e
check "run --key and --key-fd together: exit 2" test "$both_rc" -eq 2
set +e
"$SHIPGATE" run "$work/stdin/job.json" --die-with-parent 1 --key "$work/keys/shipgate.key" --quiet 2>"$work/dwp.err"
dwp_rc=$?
set -e
check "run --die-with-parent PID, PID not the parent (it ended first): exit 3 before anything ran ($dwp_rc)" \
	sh -c "test $dwp_rc -eq 3 && grep -q 'not our parent' '$work/dwp.err' && test ! -e '$work/stdin/shipgate-out'"

# ---- threads ---------------------------------------------------------------------------
if [ -n "${SHIPGATE_API_THREADS:-}" ]; then
	mkdir -p "$work/t1" "$work/t2" "$work/slow/ws"
	cp -R "$SRC/examples/demo/." "$work/t1/"
	cp -R "$SRC/examples/demo/." "$work/t2/"
	rm -rf "$work/t1/shipgate-out" "$work/t2/shipgate-out"
	sed 's/"name": "calc"/"name": "calc-two"/' "$work/t2/job.json" >"$work/t2/job2.json"
	cat >"$work/slow/job.json" <<'JEOF'
{ "version": 1, "name": "slow", "workspace": "ws", "network": "none",
  "limits": { "memory_mb": 256, "pids": 64, "timeout_s": 120 },
  "steps": [ { "name": "sleep", "run": ["sleep", "299.731"] } ] }
JEOF
	unset LD_LIBRARY_PATH
	set +e
	"$SHIPGATE_API_THREADS" "$work/keys/shipgate.key" "$work/keys/shipgate.pub" "$work/t1/job.json" \
		"$work/t2/job2.json" "$work/slow/job.json" >"$work/threads.tap" 2>&1
	trc=$?
	set -e
	sed 's/^/#   /' "$work/threads.tap"
	check "api_threads: two jobs in two threads, and an interrupt flag (see above)" test "$trc" -eq 0
	sleep 0.2
	check "no sandbox process is left (no 'sleep 299.731')" sh -c "! pgrep -f '^sleep 299[.]731\$' >/dev/null"
fi

# ---- the caller dies: its job goes with it -------------------------------------------------
# the sleep's argument names this test's sandbox among any other test's (this pid)
nap="298.$$"
pat="^sleep 298[.]$$\$"
mkdir -p "$work/orphan/ws"
cat >"$work/orphan/job.json" <<JEOF
{ "version": 1, "name": "orphan", "workspace": "ws", "network": "none",
  "limits": { "memory_mb": 256, "pids": 64, "timeout_s": 120 },
  "steps": [ { "name": "sleep", "run": ["sleep", "$nap"] } ] }
JEOF
LD_LIBRARY_PATH="$libdir" "$work/run_job" "$work/orphan/job.json" "$work/keys/shipgate.key" \
	"$work/keys/shipgate.pub" "$work/orphan/out" >/dev/null 2>"$work/orphan.err" &
caller=$!
i=0
while ! pgrep -f "$pat" >/dev/null && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
runner=$(pgrep -P "$caller" || true)
kill -KILL "$caller"
wait "$caller" 2>/dev/null || true
gone() { # PID: no such process, or a zombie waiting for init
	[ -z "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]
}
i=0
while { pgrep -f "$pat" >/dev/null || { [ -n "$runner" ] && ! gone "$runner"; }; } && [ "$i" -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "the caller killed (-9) mid-step: its sandbox is gone within 10 s" sh -c "! pgrep -f '$pat' >/dev/null"
check "... and its runner ($runner) too" sh -c "test -n '$runner' && { ! ps -o stat= -p '$runner' | grep -qv Z; }"
check "... which tore the step down as on SIGTERM: a signed ERROR verdict, interrupted" \
	sh -c "grep -q 'interrupted' '$work/orphan/out/statement.json' &&
		'$SHIPGATE' verify '$work/orphan/out/verdict.dsse.json' --pub '$work/keys/shipgate.pub' --quiet"
# whatever the outcome, nothing this test started is left behind
[ -n "$runner" ] && ! gone "$runner" && kill -TERM "$runner" 2>/dev/null
sleep 0.2

# ---- a handle is what runs ---------------------------------------------------------------
if [ -n "${SHIPGATE_API_HANDLES:-}" ]; then
	h="$work/handles"
	mkdir -p "$h/a" "$h/b" "$h/proj/ws/leak" "$h/leak"
	"$SHIPGATE" keygen "$h/a/keys" >/dev/null
	"$SHIPGATE" keygen "$h/b/keys" >/dev/null
	cp "$h/a/keys/shipgate.key" "$h/proj/ws/leak/shipgate.key"
	cp "$h/a/keys/shipgate.key" "$h/leak/shipgate.key"
	printf '%s\n' '{"version": 1, "name": "orig", "workspace": "ws", "limits": {"memory_mb": 128, "pids": 32},' \
		' "steps": [{"name": "t", "run": ["true"]}]}' >"$h/proj/job.json"
	cp "$h/proj/job.json" "$h/proj/toc.json"
	set +e
	(unset LD_LIBRARY_PATH; "$SHIPGATE_API_HANDLES" handles "$h") >"$work/handles.tap" 2>&1
	hrc=$?
	set -e
	sed 's/^/#   /' "$work/handles.tap"
	check "api_handles: the job and the key that run are the handles' (see above)" test "$hrc" -eq 0
fi

# ---- without libcrypto: the library says so, the CLI exits 3 -------------------------------
# libcrypto is hidden in a mount namespace of this test's own (a bind mount of /dev/null
# over it): dlopen() fails as on a host without it.
soname=$(strings -a "$libdir/libshipgate.so.1" | grep -m 1 '^libcrypto[.]so[.][0-9]*$' || true)
ns=""
if [ "$(id -u)" -eq 0 ]; then ns="unshare -m"; else ns="unshare -rm"; fi
if [ -n "${SHIPGATE_API_HANDLES:-}" ] && [ -n "$soname" ] && command -v unshare >/dev/null 2>&1 &&
	$ns true 2>/dev/null; then
	libs=$(ldconfig -p | awk -v s="$soname" '$1 == s {print $NF}' | while read -r f; do readlink -f "$f"; done | sort -u)
	hide=""
	for f in $libs; do hide="$hide mount --bind /dev/null '$f' &&"; done
	set +e
	$ns sh -c "$hide unset LD_LIBRARY_PATH && exec '$SHIPGATE_API_HANDLES' nocrypto '$work/keys/shipgate.key' \
		'$work/keys/shipgate.pub' '$work/api/job.json'" >"$work/nocrypto.tap" 2>&1
	ncrc=$?
	$ns sh -c "$hide exec '$SHIPGATE' keygen '$work/nocrypto-keys'" >/dev/null 2>"$work/nocrypto-cli.err"
	clirc=$?
	set -e
	sed 's/^/#   /' "$work/nocrypto.tap"
	check "without libcrypto, every API call that needs it returns an error and the program lives ($ncrc)" \
		test "$ncrc" -eq 0
	check "without libcrypto, the CLI exits 3 and names it ($clirc)" \
		sh -c "test $clirc -eq 3 && grep -q '$soname' '$work/nocrypto-cli.err'"
else
	echo "# skipped the libcrypto checks (no unshare, or no namespace allowed)"
fi

tap_done
