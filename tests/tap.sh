# tests/tap.sh: the TAP counter of the test scripts that run without ctest's environment
# (tests/integration/lib.sh needs it; these are also run by hand, in the Slurm and
# rootfs setups). Source it, report with ok/not_ok/check, end with tap_done.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # DESC CMD...: ok when CMD succeeds
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# the plan, and the script's status: 1 when a check failed
tap_done() {
	echo "1..$n"
	[ "$failed" -eq 0 ] || { echo "# $failed of $n failed"; exit 1; }
}
