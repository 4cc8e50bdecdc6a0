#!/bin/sh
# test_rootfs_debian.sh (ctest label rootfs-debian): the debian-bookworm-build image,
# built for real with debootstrap from the host's Debian mirror into a private
# XDG_CACHE_HOME, then:
#   - the demo project (examples/demo) builds, passes its tests and serves in it, each
#     step under its kind's policy, and the verdict's environment names the image and
#     its digest and says Debian 12;
#   - the toolchain is the image's (gcc 12, cmake, python3-pytest, node): a pytest and a
#     ctest fixture pass in it;
#   - a second build from scratch (--force) gives the same tree digest, and a third
#     build is a no-op;
#   - the packages match rootfs/debian-bookworm-build/packages.lock (reported, not
#     failed: the mirror moves at Debian point releases; see docs/rootfs.md).
# Exit 77 (skipped) when the mirror cannot be reached, debootstrap is missing, or there is
# neither root nor a subordinate id range for an unprivileged build.
#
# Environment (ctest sets it): SHIPGATE, the binary; SHIPGATE_SOURCE_DIR; SHIPGATE_BUILD_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export SHIPGATE_POLICY_DIR="$SRC/policies"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
NAME=debian-bookworm-build
ROOTFS="$SRC/scripts/rootfs"

skip() { echo "1..0 # SKIP $1"; exit 77; }
command -v debootstrap >/dev/null || skip "debootstrap is not installed (scripts/setup installs it)"
if [ "$(id -u)" -ne 0 ] && ! unshare --user --map-auto --map-root-user true 2>/dev/null; then
	skip "not root, and no subordinate id range for an unprivileged debootstrap"
fi
mirror=$("$ROOTFS" inputs "$NAME" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["mirror"])') ||
	skip "no Debian mirror in the host's apt sources"
if ! "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15).read(64)' \
	"$mirror/dists/bookworm/Release" 2>/dev/null; then
	skip "the Debian mirror $mirror cannot be reached"
fi

sg_run() {
	if [ "$(id -u)" -eq 0 ]; then "$SHIPGATE" run "$@"; else "$SHIPGATE" run --allow-weaker "$@"; fi
}
work=$(mktemp -d "${SHIPGATE_BUILD_DIR:-${TMPDIR:-/tmp}}/test-rootfs-debian.XXXXXX")
cleanup() {
	[ -d "$work/cache/shipgate/rootfs/$NAME" ] && "$ROOTFS" remove "$NAME" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
unset XDG_STATE_HOME
export HOME="$work/home" XDG_CACHE_HOME="$work/cache"
mkdir -p "$HOME"
img="$XDG_CACHE_HOME/shipgate/rootfs/$NAME"

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
		printf '#   exit %s (want %s), want text: %s\n#   output: %s\n' "$rc" "$code" "$text" "$out" | tail -40
	fi
}
json_get() { # FILE EXPR
	"$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"e": e}))' "$1" "$2"
}
json_is() { # FILE EXPR WANT DESC
	got=$(json_get "$1" "$2" 2>&1) || true
	if [ "$got" = "$3" ]; then ok "$4"; else not_ok "$4"; echo "#   $2 = $got, want $3"; fi
}

# ---- first build -------------------------------------------------------------------------
t0=$(date +%s)
expect 0 "$NAME: built in" "scripts/rootfs build $NAME (debootstrap from $mirror)" "$ROOTFS" build "$NAME"
t1=$(date +%s)
echo "# first build (downloading the .debs): $((t1 - t0)) s"
[ -f "$img/manifest.json" ] || { echo "Bail out! no image"; exit 1; }
d1=$(json_get "$img/manifest.json" 'e["digest"]["sha256"]')
echo "# digest $d1, $(json_get "$img/manifest.json" 'e["package_count"]') packages, $(json_get "$img/manifest.json" 'e["tree"]["bytes"] // 1000000') MB"
json_is "$img/manifest.json" 'sorted({"gcc-12", "cmake", "python3-pytest", "nodejs", "make"} - {p["name"] for p in e["packages"]})' \
	"[]" "the manifest lists the toolchain's packages with their versions"
drift=$(json_get "$img/build.json" 'len(e["lock_drift"])')
if [ "$drift" = "0" ]; then
	ok "the packages are those of packages.lock"
else
	ok "# the mirror has moved on from packages.lock ($drift differences; see build.json)"
fi

# ---- the demo, in the image -------------------------------------------------------------
cp -R "$SRC/examples/demo" "$work/demo"
rm -rf "$work/demo/shipgate-out" "$work/demo/.shipgate"
"$PY" - "$work/demo/job.json" "$NAME" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["rootfs"] = sys.argv[2]
j.pop("network", None)
for step, policy in zip(j["steps"], ["build", "test", "launch"]):
    step["policy"] = policy
json.dump(j, open(sys.argv[1], "w"), indent=1)
EOF
expect 0 "PASSED" "the demo builds, passes its tests and serves in $NAME" sg_run "$work/demo/job.json"
st="$work/demo/shipgate-out/statement.json"
json_is "$st" '(e["predicate"]["environment"]["rootfs"], e["predicate"]["environment"]["digest"]["sha256"])' \
	"('$NAME', '$d1')" "the verdict's environment names the image and its digest"
json_is "$st" '(e["predicate"]["environment"]["os_release"]["ID"], e["predicate"]["environment"]["os_release"]["VERSION_ID"])' \
	"('debian', '12')" "and says Debian 12 (the image's os-release)"
json_is "$st" '[(s["policy"]["name"], s["network"]) for s in e["predicate"]["steps"]]' \
	"[('build', 'none'), ('test', 'loopback'), ('launch', 'loopback')]" "each step under its policy and network"
json_is "$st" 'e["predicate"]["steps"][1]["tests"]["passed"] >= 10' "True" "the demo's TAP tests ran"

# ---- the image's own toolchain ------------------------------------------------------------
ws="$work/tools/ws"
mkdir -p "$ws"
cp -R "$SRC/tests/data/workloads/pytest" "$SRC/tests/data/workloads/ctest" "$ws/"
cat >"$work/tools/job.json" <<EOF
{ "version": 1, "name": "toolchain", "workspace": "ws", "rootfs": "$NAME",
  "limits": { "memory_mb": 1024, "pids": 256, "timeout_s": 300 },
  "steps": [
    { "name": "versions", "policy": "build",
      "run": "gcc --version | head -1; cmake --version | head -1; python3 -m pytest --version; node --version" },
    { "name": "pytest", "policy": "test",
      "run": ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=pytest.xml", "pytest"],
      "tests": { "format": "junit", "path": "pytest.xml", "min": 4 } },
    { "name": "ctest", "policy": "test",
      "run": "cmake -S ctest -B /tmp/b >/dev/null && cmake --build /tmp/b >/dev/null && ctest --test-dir /tmp/b --output-junit /workspace/ctest.xml",
      "tests": { "format": "junit", "path": "ctest.xml", "min": 2 } } ] }
EOF
expect 0 "PASSED" "pytest and ctest fixtures pass with the image's python3-pytest and cmake" \
	sg_run "$work/tools/job.json"
out="$work/tools/shipgate-out/logs/versions.stdout"
if grep -q "^gcc (Debian 12" "$out" && grep -q "^v18\." "$out"; then
	ok "the tools are the image's: $(tr '\n' ';' <"$out")"
else
	not_ok "the tools are the image's"
	sed 's/^/#   /' "$out"
fi

# ---- reproducibility ---------------------------------------------------------------------
t0=$(date +%s)
expect 0 "same digest as the image it replaced" "a second build from scratch (--force) gives the same digest" \
	"$ROOTFS" build "$NAME" --force
echo "# second build (.debs from the cache): $(($(date +%s) - t0)) s"
json_is "$img/manifest.json" 'e["digest"]["sha256"]' "$d1" "digest stable across two builds: $d1"
expect 0 "$NAME: up to date" "a third build with the same recipe is a no-op" "$ROOTFS" build "$NAME"
expect 0 "intact" "scripts/rootfs verify: the tree still hashes to its manifest" "$ROOTFS" verify "$NAME"

tap_done
