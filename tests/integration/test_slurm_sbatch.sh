#!/bin/sh
# test_slurm_sbatch.sh: scripts/slurm/shipgate.sbatch run directly, without Slurm (the
# slurm-labelled test needs a cluster and skips without one; this one always runs).
# - a failure of the script's own set-up exits 3 (infrastructure) with a message naming
#   what is wrong, and runs nothing: SHIPGATE_JOB or SHIPGATE_VERDICTS not set, no job
#   file, no shipgate program (or one that does not run), a verdict directory that cannot
#   be made (/proc/nope, or below a regular file);
# - shipgate run's own exit code passes through unchanged (0, 1, 2, 3, from a stand-in
#   program), with the arguments the script documents (run JOB --out DIR --quiet
#   [--key KEY]);
# - as root, the real shipgate: a passing job exits 0 with a verdict that verifies in
#   $SHIPGATE_VERDICTS/NAME-JOBID, a failing one exits 1.
#
# Environment (ctest sets it): SHIPGATE, SHIPGATE_SOURCE_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SBATCH="$SRC/scripts/slurm/shipgate.sbatch"

work=$(mktemp -d "${TMPDIR:-/tmp}/test-sbatch.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME SHIPGATE_KEY SLURM_JOB_NAME SLURM_JOB_ID
export HOME="$work/home"
mkdir -p "$HOME"

. "$(dirname "$0")/../tap.sh"

# the job and a stand-in shipgate that records its arguments and exits $FAKE_RC
mkdir -p "$work/job/ws"
printf '%s\n' '{"version":1,"name":"sb","workspace":"ws","limits":{"memory_mb":128,"pids":32},' \
	' "steps":[{"name":"t","run":["true"]}]}' >"$work/job/job.json"
printf '%s\n' '{"version":1,"name":"sbf","workspace":"ws","limits":{"memory_mb":128,"pids":32},' \
	' "steps":[{"name":"t","run":["false"]}]}' >"$work/job/fail.json"
# shellcheck disable=SC2016 # the stand-in's own text
printf '%s\n' '#!/bin/sh' '[ "$1" = --version ] && exit 0' 'echo "$@" >"$FAKE_ARGS"' 'exit "$FAKE_RC"' \
	>"$work/fake-shipgate"
chmod 0755 "$work/fake-shipgate"
: >"$work/not-a-program"
: >"$work/a-file"
export FAKE_ARGS="$work/fake.args"

# sbatch_run DESC WANT_RC WANT_TEXT VAR=VALUE...: run the script with that environment
# (and nothing else of shipgate's), check its exit code and that stderr has WANT_TEXT
sbatch_run() {
	d=$1 want=$2 text=$3
	shift 3
	rm -f "$FAKE_ARGS"
	set +e
	env -u SHIPGATE -u SHIPGATE_JOB -u SHIPGATE_VERDICTS "$@" /bin/sh "$SBATCH" >"$work/out" 2>"$work/err"
	rc=$?
	set -e
	if [ "$rc" -eq "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" "$work/err"; }; then
		ok "$d (exit $rc)"
	else
		not_ok "$d (exit $rc, want $want and '$text')"
		sed 's/^/#   /' "$work/err"
	fi
}
ran_nothing() { # DESC: the stand-in was not run
	if [ ! -e "$FAKE_ARGS" ]; then ok "$1: nothing ran"; else not_ok "$1: nothing ran"; fi
}

# ---- the script's own set-up: exit 3, said why ----------------------------------------
J="SHIPGATE_JOB=$work/job/job.json"
V="SHIPGATE_VERDICTS=$work/verdicts"
F="SHIPGATE=$work/fake-shipgate"
sbatch_run "SHIPGATE_VERDICTS=/proc/nope: exit 3" 3 "cannot create the verdict directory /proc/nope" \
	"$J" SHIPGATE_VERDICTS=/proc/nope "$F" FAKE_RC=0
ran_nothing "SHIPGATE_VERDICTS=/proc/nope"
sbatch_run "a verdict directory below a regular file: exit 3" 3 "cannot create the verdict directory" \
	"$J" "SHIPGATE_VERDICTS=$work/a-file/v" "$F" FAKE_RC=0
ran_nothing "a verdict directory below a regular file"
sbatch_run "SHIPGATE_VERDICTS=/proc/nope, the real shipgate: exit 3, not FAILED" 3 "/proc/nope" \
	"$J" SHIPGATE_VERDICTS=/proc/nope "SHIPGATE=$SHIPGATE"
sbatch_run "SHIPGATE_JOB not set: exit 3" 3 "set SHIPGATE_JOB" "$V" "$F" FAKE_RC=0
sbatch_run "SHIPGATE_VERDICTS not set: exit 3" 3 "set SHIPGATE_VERDICTS" "$J" "$F" FAKE_RC=0
sbatch_run "SHIPGATE_JOB names no file: exit 3" 3 "$work/job/none.json" \
	"SHIPGATE_JOB=$work/job/none.json" "$V" "$F" FAKE_RC=0
ran_nothing "SHIPGATE_JOB names no file"
sbatch_run "SHIPGATE names no program: exit 3" 3 "SHIPGATE=$work/none" "$J" "$V" "SHIPGATE=$work/none"
sbatch_run "SHIPGATE names a file that is not a program: exit 3" 3 "SHIPGATE=$work/not-a-program" \
	"$J" "$V" "SHIPGATE=$work/not-a-program"
if ! PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v shipgate >/dev/null 2>&1; then
	sbatch_run "SHIPGATE unset, no shipgate in PATH: exit 3" 3 "SHIPGATE=shipgate: no such program" \
		"$J" "$V" PATH=/usr/sbin:/usr/bin:/sbin:/bin
fi
sbatch_run "SHIPGATE_JOB and SHIPGATE_VERDICTS unset, as in the review: exit 3" 3 "set SHIPGATE_JOB" \
	SHIPGATE_VERDICTS=/proc/nope

# ---- shipgate run's own exit code passes through ------------------------------------------
for code in 0 1 2 3; do
	sbatch_run "shipgate run exits $code: so does the script" "$code" "" "$J" "$V" "$F" FAKE_RC="$code"
done
sbatch_run "with SHIPGATE_KEY, SLURM_JOB_NAME and SLURM_JOB_ID" 0 "" "$J" "$V" "$F" FAKE_RC=0 \
	"SHIPGATE_KEY=$work/k.key" SLURM_JOB_NAME=calc SLURM_JOB_ID=42
want="run $work/job/job.json --out $work/verdicts/calc-42 --quiet --key $work/k.key"
if [ "$(cat "$FAKE_ARGS" 2>/dev/null)" = "$want" ] && [ -s "$work/verdicts/calc-42/slurm-cgroup.txt" ]; then
	ok "shipgate gets: $want (and slurm-cgroup.txt is written)"
else
	not_ok "shipgate gets: $want (and slurm-cgroup.txt is written)"
	sed 's/^/#   got: /' "$FAKE_ARGS" 2>/dev/null || true
fi

# ---- the real shipgate, as root (unprivileged, the limits need --allow-weaker) -------------
if [ "$(id -u)" -eq 0 ]; then
	"$SHIPGATE" keygen "$work/keys" >/dev/null
	K="SHIPGATE_KEY=$work/keys/shipgate.key"
	sbatch_run "the real shipgate on a passing job: exit 0" 0 "" "$J" "$V" "SHIPGATE=$SHIPGATE" "$K" \
		SLURM_JOB_NAME=pass SLURM_JOB_ID=7
	if "$SHIPGATE" verify "$work/verdicts/pass-7/verdict.dsse.json" --pub "$work/keys/shipgate.pub" \
		--workspace "$work/job/ws" --quiet; then
		ok "its verdict is in SHIPGATE_VERDICTS/pass-7 and verifies"
	else
		not_ok "its verdict is in SHIPGATE_VERDICTS/pass-7 and verifies"
	fi
	sbatch_run "the real shipgate on a failing job: exit 1" 1 "" "SHIPGATE_JOB=$work/job/fail.json" "$V" \
		"SHIPGATE=$SHIPGATE" "$K" SLURM_JOB_NAME=fail SLURM_JOB_ID=8
else
	echo "# skipped the real runs: not root (the job's limits would need --allow-weaker)"
fi

tap_done
