# lib.sh: what the hostile cases share. Sourced by tests/hostile/test_*.sh, on top of the
# integration tests' lib.sh (TAP, temp dirs, markers, sg_exec, jget...).
#
# A hostile case runs a candidate that tries one way out (the `attack` program, or a
# script) and asserts three things:
#   containment  checked from outside: the host file is unchanged, no process is left,
#                no cgroup is left, no mount is left (check_contained)
#   evidence     the step's status, limits_hit, violations or trace say what happened
#   survival     shipgate exits with the right code and writes a valid, signed verdict
#                whose strings are valid UTF-8 (check_survival)
#
# The environment adds SHIPGATE_ATTACK (tests/hostile/attack.c, built static).

# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
: "${SHIPGATE_ATTACK:?SHIPGATE_ATTACK must name the attack program}"

# require_root: the cases run `shipgate run` with its default limits, which need the
# cgroups only root has here; started by anyone else, a test skips (exit 77) and
# test_rootless.sh is the unprivileged user's share of the suite.
require_root() {
	if ! is_root; then
		echo "1..0 # SKIP needs root (test_rootless.sh runs the unprivileged cases)"
		_tap_done=1
		exit 77
	fi
}

# todo MSG REASON CMD...: a check that fails today because of a known weakness (reported,
# not yet fixed in the executor). TAP's TODO directive keeps it visible without failing
# the suite; when it starts to pass, it says so, and the TODO should become a plain check.
todo() {
	_msg=$1
	_why=$2
	shift 2
	if "$@" >/dev/null 2>&1; then
		_tap_n=$((_tap_n + 1))
		echo "ok $_tap_n - $_msg # TODO passes now: make it a plain check ($_why)"
	else
		_tap_n=$((_tap_n + 1))
		echo "not ok $_tap_n - $_msg # TODO $_why"
	fi
}

# hjob NAME JSON: a job directory $TEST_TMP/NAME.XXXXXX with job.json = JSON and a
# workspace ws/ holding the attack program; prints the directory. In JSON, @ATTACK@ is
# replaced by ./attack (the workspace is the working directory).
hjob() {
	_j=$(new_tmp "$1")
	mkdir -m 0755 "$_j/ws"
	cp "$SHIPGATE_ATTACK" "$_j/ws/attack"
	chmod 0755 "$_j/ws/attack"
	printf '%s\n' "$2" >"$_j/job.json"
	echo "$_j"
}

# _sg_pid_run SECONDS ARGS...: run shipgate ARGS under a timeout, with stdin from
# /dev/null and the output in $TEST_TMP/sg.out|err; sets SG_RC, SG_OUT, SG_ERR and SG_PID,
# the pid shipgate ran as (its cgroups are named after it)
_sg_pid_run() {
	_limit=$1
	shift
	rm -f "$TEST_TMP/sg.pid"
	timeout -k 5 "$_limit" sh -c 'echo $$ >"$0"; exec "$@"' "$TEST_TMP/sg.pid" "$SHIPGATE" "$@" \
		</dev/null >"$TEST_TMP/sg.out" 2>"$TEST_TMP/sg.err"
	SG_RC=$?
	SG_PID=$(cat "$TEST_TMP/sg.pid" 2>/dev/null)
	SG_OUT=$(cat "$TEST_TMP/sg.out")
	SG_ERR=$(cat "$TEST_TMP/sg.err")
}

# hrun DIR [ARGS...]: `shipgate run DIR/job.json --out DIR/out ARGS...`; sets SG_RC,
# SG_OUT, SG_ERR, SG_PID and ST (the statement)
hrun() {
	_d=$1
	shift
	_sg_pid_run 120 run "$_d/job.json" --out "$_d/out" "$@"
	ST=$_d/out/statement.json
}

# hexec ARGS...: `shipgate exec ARGS...`; sets SG_RC, SG_OUT, SG_ERR and SG_PID
hexec() {
	_sg_pid_run 60 exec "$@"
}

# step FIELD: d["predicate"]["steps"][0][FIELD] of the last run's statement
step() {
	jget "$ST" "d['predicate']['steps'][0]$1"
}

# valid_evidence FILE: FILE is strict UTF-8 JSON (no NaN, no trailing garbage), every
# string in it, keys included, is valid Unicode without lone surrogates, and every
# "reason" and "summary" is one line without control characters (they are printed on
# terminals as they are). Other strings may hold escaped control characters: a file's
# real name, a log's real tail.
valid_evidence() {
	"$PY" - "$1" <<'EOF'
import json, sys
raw = open(sys.argv[1], "rb").read()
text = raw.decode("utf-8")  # strict: invalid UTF-8 raises
def bad_const(c):
    raise ValueError("non-JSON constant " + c)
doc = json.loads(text, parse_constant=bad_const)
def walk(v, path, key=""):
    if isinstance(v, str):
        v.encode("utf-8")  # a lone surrogate (\ud800) raises
        if key in ("reason", "summary"):
            for ch in v:
                if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0:
                    raise ValueError("control character U+%04X in %s" % (ord(ch), path))
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(k, path + ".<key>")
            walk(x, path + "." + k, k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(x, "%s[%d]" % (path, i), key)
walk(doc, "$")
EOF
}

# check_survival WANT_RC WHAT: shipgate exited WANT_RC; statement.json is valid evidence;
# the verdict is signed by the run's key over exactly that statement
check_survival() {
	is "$SG_RC" "$1" "$2: shipgate run exits $1"
	ok "$2: statement.json is strict UTF-8 JSON, its strings valid, its reasons one clean line" \
		valid_evidence "$ST"
	ok "$2: the verdict's signature verifies" "$SHIPGATE" verify "$(dirname "$ST")/verdict.dsse.json" -q
}

# check_contained MARKER WHAT: no host process has MARKER in its argv (within 3 s), no
# cgroup of the shipgate run is left, no mount of this test's files exists on the host,
# and shipgate's scratch directories are gone
check_contained() {
	ok "$2: no process is left on the host" gone_within 3 "$1"
	is "$(sg_cgroups_of "$SG_PID")" "" "$2: no cgroup of the run is left"
	is "$(grep -c "$TEST_TMP" /proc/self/mountinfo)" 0 "$2: no mount of the test's files is left on the host"
	is "$(ls -A "$TMPDIR")" "" "$2: shipgate's scratch directories are removed"
}

# no_hostile_escapes FILE: FILE (what a terminal received) holds no control bytes but
# shipgate's own (its colours, the carriage return and line clearing of the progress
# line, newlines) and is valid UTF-8
no_hostile_escapes() {
	"$PY" - "$1" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
# shipgate's own: \r, ESC[K, ESC[0m, ESC[2m, ESC[31m, ESC[32m around the status
ours = re.compile(rb"\r|\x1b\[(?:K|0m|2m|3[12]m)")
rest = ours.sub(b"", data)
bad = [m.group(0) for m in re.finditer(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", rest)]
if bad or b"HOSTILE-TITLE\x07" in data:
    print("candidate-controlled control bytes reached the output:", bad[:10])
    sys.exit(1)
try:
    rest.decode("utf-8")
except UnicodeDecodeError as e:
    print("invalid UTF-8 reached the output:", e)
    sys.exit(1)
EOF
}
