# lib.sh: what every integration test shares. Sourced by tests/integration/test_*.sh.
#
# Output is TAP: `plan N`, then one "ok N - ..." or "not ok N - ..." per check with the
# evidence of a failure as "# " lines, then a summary. The script exits non-zero if any
# check failed, if the number of checks does not match the plan, or if it stopped early.
#
# Tests run in parallel (ctest -j2) next to whatever else runs on the host, so nothing
# here uses a fixed path or a fixed process name: temp dirs come from new_tmp (removed on
# exit), shipgate's own temp dirs go to a private TMPDIR, and processes are found by
# markers unique to this run (see unique).
#
# The environment (set by tests/CMakeLists.txt): SHIPGATE (the binary),
# SHIPGATE_TRY_SYSCALL (the probe), SHIPGATE_SOURCE_DIR, SHIPGATE_BUILD_DIR,
# SHIPGATE_POLICY_DIR.

# shellcheck disable=SC2034 # SG_RC, SG_OUT, SG_ERR, WAIT_RC, WAIT_MS are the tests' to read
set -u

: "${SHIPGATE:?SHIPGATE must name the shipgate binary}"
: "${SHIPGATE_SOURCE_DIR:?}"
: "${SHIPGATE_POLICY_DIR:?}"
export SHIPGATE_POLICY_DIR
PY=/usr/bin/python3
TEST_NAME=$(basename "$0" .sh)

_tap_n=0
_tap_failed=0
_tap_plan=0
_tap_done=0
_bg_pids=""
_tmp_dirs=""

# ---- TAP -----------------------------------------------------------------------------

plan() {
	_tap_plan=$1
	echo "1..$1"
}

diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

pass() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1"
}

# fail MSG [DETAIL...]
fail() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $1"
	shift
	[ $# -gt 0 ] && diag "$@"
	return 0
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

# ok MSG CMD [ARG...]: passes when CMD exits 0; a failure shows CMD's output.
ok() {
	_msg=$1
	shift
	_out=$("$@" 2>&1)
	_rc=$?
	if [ $_rc -eq 0 ]; then
		pass "$_msg"
	else
		fail "$_msg" "command: $*" "exit status: $_rc" "$_out"
	fi
}

# is GOT WANT MSG
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3" "got:      '$1'" "expected: '$2'"
	fi
}

# isnt GOT UNWANTED MSG
isnt() {
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		fail "$3" "got '$1', which is what it must not be"
	fi
}

# like TEXT ERE MSG / unlike TEXT ERE MSG
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3" "expected to match: /$2/" "got:" "$1"
	fi
}

unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		fail "$3" "expected not to match: /$2/" "got:" "$1"
	else
		pass "$3"
	fi
}

# num A OP B MSG, OP one of -eq -ne -lt -le -gt -ge; A must be an integer
num() {
	case "$1" in
	'' | *[!0-9-]*)
		fail "$4" "not a number: '$1'"
		return 0
		;;
	esac
	if test "$1" "$2" "$3"; then
		pass "$4"
	else
		fail "$4" "got $1, expected $2 $3"
	fi
}

# The summary; the exit status of the test.
done_testing() {
	_tap_done=1
	if [ "$_tap_n" -ne "$_tap_plan" ]; then
		diag "planned $_tap_plan checks but ran $_tap_n"
		_tap_failed=$((_tap_failed + 1))
	fi
	if [ "$_tap_failed" -ne 0 ]; then
		diag "$TEST_NAME: $_tap_failed of $_tap_n checks failed"
		exit 1
	fi
	diag "$TEST_NAME: all $_tap_n checks passed"
	exit 0
}

# ---- clean-up --------------------------------------------------------------------------

# track_pid PID: kill PID (and wait for it) on exit if it is still running
track_pid() {
	_bg_pids="$_bg_pids $1"
}

_cleanup() {
	_status=$?
	for _p in $_bg_pids; do
		kill -KILL "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	for _d in $_tmp_dirs; do
		# the sandbox leaves read-only and permissionless dirs behind (overlay work dirs)
		chmod -R u+rwx "$_d" 2>/dev/null
		rm -rf "$_d"
	done
	if [ "$_tap_done" -eq 0 ]; then
		echo "not ok - $TEST_NAME stopped before done_testing (status $_status)"
		exit 1
	fi
	exit $_status
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything a test makes lives below TEST_TMP (traversable by the sandbox's own uid and
# by nobody, for the rootless cases), removed on exit.
TEST_TMP=$(mktemp -d "/tmp/sgit-$TEST_NAME.XXXXXX") || exit 1
chmod 0755 "$TEST_TMP"
_tmp_dirs=$TEST_TMP

# new_tmp NAME: a fresh directory below TEST_TMP
new_tmp() {
	_d=$(mktemp -d "$TEST_TMP/$1.XXXXXX") || exit 1
	chmod 0755 "$_d"
	echo "$_d"
}

# statements_as_printed DIR NAME: every statement.json below DIR is exactly what cJSON
# prints of its own parse (they are written piece by piece to look so: executor/verdict.c)
statements_as_printed() {
	_files=$(find "$1" -name statement.json -type f | sort)
	_n=$(printf '%s\n' "$_files" | grep -c .)
	# shellcheck disable=SC2086 # the paths have no blanks (our own temp dirs)
	_out=$("$SHIPGATE_JSON_REPRINT" $_files 2>&1)
	is "$?:$_out" "0:" "$2: the $_n statements are byte for byte as cJSON prints them"
}

# A private TMPDIR for shipgate's own temp dirs, so that a leftover can be attributed.
export TMPDIR="$TEST_TMP/tmpdir"
mkdir -m 0755 "$TMPDIR"

# `run` signs with the user's default key, made on first use: keep the tests' key out of
# the real user's state directory
export XDG_STATE_HOME="$TEST_TMP/state"

# unique: a string no other process on the host has in its command line
unique() {
	echo "$$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
}

# ---- running shipgate ------------------------------------------------------------------

# sg_exec ARGS...: run `shipgate exec ARGS...` with stdin from /dev/null; sets SG_RC,
# SG_OUT and SG_ERR (the output as text). A run that hangs is killed after 60 s.
sg_exec() {
	SG_OUT=$(timeout -k 5 60 "$SHIPGATE" exec "$@" </dev/null 2>"$TEST_TMP/stderr")
	SG_RC=$?
	SG_ERR=$(cat "$TEST_TMP/stderr")
}

# sg_run ARGS...: the same for `shipgate run ARGS...`
sg_run() {
	SG_OUT=$(timeout -k 5 120 "$SHIPGATE" run "$@" </dev/null 2>"$TEST_TMP/stderr")
	SG_RC=$?
	SG_ERR=$(cat "$TEST_TMP/stderr")
}

# jget FILE EXPR: the value of the Python expression EXPR over the JSON document d in
# FILE: strings as they are, anything else as JSON ("true", "null", "[...]"). A missing
# key or an unreadable file prints an "<error ...>" that no check will accept.
jget() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    with open(sys.argv[1]) as f:
        d = json.load(f)
    v = eval(sys.argv[2], {"d": d})
    print(v if isinstance(v, str) else json.dumps(v))
except Exception as e:
    print("<error %s: %s>" % (type(e).__name__, e))
EOF
}

# tree_listing DIR: one line per entry below DIR (path, type, mode, sha256 of contents or
# symlink target), sorted: two listings are equal iff the trees are byte-for-byte equal.
tree_listing() {
	"$PY" - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        mode = "%o" % stat.S_IMODE(st.st_mode)
        owner = "%d:%d" % (st.st_uid, st.st_gid)
        if stat.S_ISLNK(st.st_mode):
            what = "link " + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                what = "file %d %s" % (st.st_size, hashlib.sha256(f.read()).hexdigest())
        elif stat.S_ISDIR(st.st_mode):
            what = "dir"
        else:
            what = "other %o" % stat.S_IFMT(st.st_mode)
        out.append("%s %s %s %s" % (rel, mode, owner, what))
print("\n".join(sorted(out)))
EOF
}

# pids_with_arg STRING: pids of host processes one of whose arguments contains STRING
pids_with_arg() {
	"$PY" - "$1" <<'EOF'
import os, sys
needle = sys.argv[1].encode()
me = os.getpid()
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == me:
        continue
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        continue
    if any(needle in a for a in args):
        print(pid)
EOF
}

# wait_for_pid_with_args ARG...: the pid of the process whose argv is exactly ARG...,
# waited for up to 10 s; empty if none appeared
wait_for_pid_with_args() {
	"$PY" - "$@" <<'EOF'
import os, sys, time
want = b"\0".join(a.encode() for a in sys.argv[1:]) + b"\0"
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if f.read() == want:
                    print(pid)
                    sys.exit(0)
        except OSError:
            pass
    time.sleep(0.05)
EOF
}

# wait_exit PID SECONDS: wait for a background child of ours; sets WAIT_RC (its exit
# status) and WAIT_MS, or WAIT_RC=timeout if it was still running after SECONDS
wait_exit() {
	_t0=$(date +%s%N)
	_limit=$(($2 * 10))
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt $_limit ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		WAIT_RC=timeout
	else
		wait "$1"
		WAIT_RC=$?
	fi
	WAIT_MS=$((($(date +%s%N) - _t0) / 1000000))
}

# gone_within SECONDS STRING: true once no host process has an argument containing
# STRING (the kernel may take a moment to reap a killed tree)
gone_within() {
	_limit=$(($1 * 10))
	_i=0
	while [ -n "$(pids_with_arg "$2")" ]; do
		[ $_i -ge $_limit ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	return 0
}

# sg_cgroups_of PID: cgroup directories that shipgate process PID created (sg-PID-N)
sg_cgroups_of() {
	find /sys/fs/cgroup -name "sg-$1-*" -type d 2>/dev/null
}

# is_root: whether the tests run as root (the rootless cases then run as nobody)
is_root() {
	[ "$(id -u)" -eq 0 ]
}
