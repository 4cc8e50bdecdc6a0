#!/bin/sh
# test_cgroup_v2_qemu.sh: the cgroup cases on a pure cgroup v2 tree, in a qemu VM with
# Debian's 6.1 kernel (scripts/qemu-cgroup-v2 does the work and says how). ctest labels
# it "integration;qemu"; it exits 77, a skip, where qemu-system-x86_64, busybox or cpio
# is missing. The first run downloads the kernel package once (about 70 MB).
set -eu
: "${SHIPGATE:?SHIPGATE must name the shipgate binary}"
: "${SHIPGATE_SOURCE_DIR:?SHIPGATE_SOURCE_DIR must name the source tree}"
: "${SHIPGATE_BUILD_DIR:?SHIPGATE_BUILD_DIR must name the build directory}"
if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "1..0 # SKIP qemu-system-x86_64 is not installed (scripts/setup installs qemu-system-x86)"
	exit 77
fi
exec "$SHIPGATE_SOURCE_DIR/scripts/qemu-cgroup-v2" --shipgate "$SHIPGATE" \
	--tools "$SHIPGATE_BUILD_DIR/tests" --policies "${SHIPGATE_POLICY_DIR:-$SHIPGATE_SOURCE_DIR/policies}"
