#!/bin/sh
# test_slurm.sh: scale-out through Slurm, on a real single-node Slurm cluster brought up
# on loopback from Debian's slurm-wlm and munge (scripts/slurm/local-cluster).
# - 20 verification jobs (15 that pass, 5 whose candidate fails) are submitted with
#   sbatch through scripts/slurm/shipgate.sbatch; each writes its verdict to the shared
#   directory named by the job; every verdict verifies with `shipgate verify`, and
#   `decide` ships exactly the passing ones; each Slurm job exits with `run`'s code;
# - a probe job looks, while shipgate runs inside it, where the step's cgroup is: below
#   the Slurm job's own cgroup (job_ID), in the hierarchies Slurm put the job in.
# Skips (77) unless root with slurmctld, slurmd, munged and sbatch installed.
#
# Environment (ctest sets it): SHIPGATE, SHIPGATE_SOURCE_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP a Slurm cluster of our own needs root"
	exit 77
fi
for b in slurmctld slurmd munged sbatch squeue scontrol unshare; do
	if ! command -v "$b" >/dev/null 2>&1; then
		echo "1..0 # SKIP $b is not installed (apt-get install -y slurm-wlm munge)"
		exit 77
	fi
done
SHIPGATE=$(readlink -f "$SHIPGATE")

work=$(mktemp -d /tmp/test-slurm.XXXXXX)
chmod 0755 "$work"
cluster="$work/cluster"
cleanup() {
	"$SRC/scripts/slurm/local-cluster" down "$cluster" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
export HOME="$work/home"
mkdir -p "$HOME"
unset XDG_STATE_HOME

. "$(dirname "$0")/../tap.sh"

"$SHIPGATE" keygen "$work/keys" >/dev/null
set +e
env_line=$("$SRC/scripts/slurm/local-cluster" up "$cluster" 2>"$work/up.err")
rc=$?
set -e
if [ "$rc" -eq 77 ]; then
	echo "1..0 # SKIP $(cat "$work/up.err")"
	exit 77
fi
if [ "$rc" -ne 0 ]; then
	echo "not ok 1 - the local Slurm cluster came up"
	sed 's/^/#   /' "$work/up.err"
	tail -n 20 "$cluster"/log/*.log | sed 's/^/#   /'
	exit 1
fi
eval "$env_line"
ok "a single-node Slurm cluster is up on loopback ($(sinfo -h -o '%P %t %c CPUs' | head -n 1))"

# ---- twenty jobs ------------------------------------------------------------------
verdicts="$work/verdicts"
mkdir -p "$verdicts"
i=0
while [ $i -lt 20 ]; do
	j=$(printf '%02d' $i)
	jd="$work/jobs/j$j"
	mkdir -p "$jd/ws"
	code=0
	[ $((i % 4)) -eq 3 ] && code=1
	printf 'int main(void) { return %d; }\n' "$code" >"$jd/ws/main.c"
	cat >"$jd/job.json" <<EOF
{ "version": 1, "name": "slurm-$j", "workspace": "ws", "network": "none",
  "limits": { "memory_mb": 256, "pids": 64, "timeout_s": 120 },
  "steps": [ { "name": "build", "run": ["cc", "-o", "m", "main.c"] },
             { "name": "check", "run": ["./m"] } ] }
EOF
	echo "$code" >"$jd/expect"
	sbatch --job-name="verify-$j" --output="$work/slurm-%j.out" --parsable \
		--export="ALL,SHIPGATE=$SHIPGATE,SHIPGATE_JOB=$jd/job.json,SHIPGATE_VERDICTS=$verdicts,SHIPGATE_KEY=$work/keys/shipgate.key" \
		"$SRC/scripts/slurm/shipgate.sbatch" >"$jd/slurm-id"
	i=$((i + 1))
done
ok "20 jobs submitted with sbatch"

# ---- the probe: where is the step's cgroup? -----------------------------------------
mkdir -p "$work/probe/ws"
cat >"$work/probe/job.json" <<'EOF'
{ "version": 1, "name": "probe", "workspace": "ws", "network": "none",
  "limits": { "memory_mb": 128, "pids": 32, "timeout_s": 60 },
  "steps": [ { "name": "wait", "run": ["sleep", "3"] } ] }
EOF
cat >"$work/probe.sh" <<EOF
#!/bin/sh
# while shipgate runs the probe's step, list the step cgroups below this job's cgroups
"$SHIPGATE" run "$work/probe/job.json" --out "$verdicts/probe-\$SLURM_JOB_ID" --key "$work/keys/shipgate.key" --quiet &
sleep 1.5
cat /proc/self/cgroup >"$work/probe.cgroup"
find /sys/fs/cgroup -type d -name 'sg-*' 2>/dev/null >"$work/probe.found"
wait
EOF
chmod +x "$work/probe.sh"
probe_id=$(sbatch --job-name=probe --output="$work/probe.out" --parsable "$work/probe.sh")

# ---- wait ----------------------------------------------------------------------------
i=0
while [ -n "$(squeue -h -o %i)" ]; do
	i=$((i + 1))
	if [ $i -gt 1500 ]; then
		not_ok "all jobs finished within 300 s"
		squeue | sed 's/^/#   /'
		break
	fi
	sleep 0.2
done
[ $i -le 1500 ] && ok "all 21 Slurm jobs finished ($((i / 5)) s)"

# ---- every verdict -------------------------------------------------------------------
verified=0 shipped=0 diagnosed=0 exits=0 named=0 placed=0 wrong=""
for jd in "$work"/jobs/j*; do
	j=${jd##*/j}
	id=$(cat "$jd/slurm-id")
	expect=$(cat "$jd/expect")
	out="$verdicts/verify-$j-$id"
	[ -f "$out/verdict.dsse.json" ] && named=$((named + 1))
	if "$SHIPGATE" verify "$out/verdict.dsse.json" --pub "$work/keys/shipgate.pub" --workspace "$jd/ws" --quiet 2>>"$work/verify.err"; then
		verified=$((verified + 1))
	fi
	set +e
	"$SHIPGATE" decide "$out/verdict.dsse.json" --pub "$work/keys/shipgate.pub" --no-ledger --quiet --out "$out/decision" 2>>"$work/decide.err"
	d=$?
	set -e
	if [ "$expect" -eq 0 ] && [ "$d" -eq 0 ]; then
		shipped=$((shipped + 1))
	elif [ "$expect" -ne 0 ] && [ "$d" -eq 1 ]; then
		diagnosed=$((diagnosed + 1))
	else
		wrong="$wrong j$j(decide $d, expected candidate exit $expect)"
	fi
	# the Slurm job exited with shipgate run's code: 0 PASSED, 1 FAILED
	ec=$(scontrol show job "$id" 2>/dev/null | sed -n 's/.*ExitCode=\([0-9]*\):.*/\1/p' | head -n 1)
	[ "$ec" = "$expect" ] && exits=$((exits + 1))
	grep -q "job_$id/" "$out/slurm-cgroup.txt" 2>/dev/null && placed=$((placed + 1))
done
check "each of the 20 wrote its verdict to the shared directory named by the job ($named)" test "$named" -eq 20
check "all 20 verdicts verify (signature and workspace) ($verified)" test "$verified" -eq 20
[ "$verified" -eq 20 ] || sed 's/^/#   /' "$work/verify.err" | head -n 10
check "decide: SHIP for the 15 that pass, DIAGNOSE for the 5 that fail ($shipped + $diagnosed)$wrong" \
	test "$shipped" -eq 15 -a "$diagnosed" -eq 5
check "each Slurm job exited with shipgate run's code ($exits of 20)" test "$exits" -eq 20
check "each ran in a cgroup Slurm made for its job (job_ID in /proc/self/cgroup) ($placed)" test "$placed" -eq 20

# ---- the probe -------------------------------------------------------------------------
echo "# the probe job's cgroups:"
sed 's/^/#   /' "$work/probe.cgroup" 2>/dev/null || true
echo "# step cgroups found while it ran:"
sed 's/^/#   /' "$work/probe.found" 2>/dev/null || true
check "the probe's verdict passed" \
	sh -c "grep -q '\"result\":[[:space:]]*\"PASSED\"' '$verdicts/probe-$probe_id/statement.json'"
check "shipgate made the step's cgroup below the Slurm job's own cgroup (job_$probe_id/.../shipgate/sg-*)" \
	grep -q "/job_$probe_id/.*/shipgate/sg-" "$work/probe.found"
check "and its memory limit was enforced there" \
	sh -c "grep -q '\"memory_kb\":[[:space:]]*131072' '$verdicts/probe-$probe_id/statement.json'"

# ---- down ------------------------------------------------------------------------------
"$SRC/scripts/slurm/local-cluster" down "$cluster"
pids_left=""
for f in slurmd slurmctld munged; do
	[ -f "$cluster/$f.pid" ] && pids_left="$pids_left $f"
done
check "the cluster is down (no daemon pid file left)" test -z "$pids_left"
check "no Slurm cgroup is left below ours" sh -c "! find /sys/fs/cgroup -maxdepth 4 -type d -name 'slurm_localhost' 2>/dev/null | grep -q ."

tap_done
