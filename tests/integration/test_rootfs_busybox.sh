#!/bin/sh
# test_rootfs_busybox.sh: the busybox image end to end, in a private XDG_CACHE_HOME:
# `scripts/rootfs build busybox` (without root too), idempotent; its manifest's digest is
# the tree's (by the Python reference and by the C implementation); a job that names it
# runs in it (/bin/sh works, /usr/bin/gcc is absent, a command it lacks is `not found`);
# the statement's environment names the image, its digest and its manifest's sha256;
# `shipgate exec --rootfs busybox` and `shipgate doctor` see it; a job naming an image
# that is not built is refused with the command that builds it.
#
# Environment (ctest sets it): SHIPGATE, the binary; SHIPGATE_SOURCE_DIR; SHIPGATE_BUILD_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SHIPGATE_BUILD_DIR:-}
export SHIPGATE_POLICY_DIR="$SRC/policies"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
if [ ! -x /bin/busybox ]; then
	echo "1..0 # SKIP /bin/busybox is not installed (Debian package busybox-static)"
	exit 0
fi
sg_run() {
	if [ "$(id -u)" -eq 0 ]; then "$SHIPGATE" run "$@"; else "$SHIPGATE" run --allow-weaker "$@"; fi
}

work=$(mktemp -d "${BUILD:-${TMPDIR:-/tmp}}/test-rootfs-bb.XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME
export HOME="$work/home" XDG_CACHE_HOME="$work/cache"
mkdir -p "$HOME"
img="$XDG_CACHE_HOME/shipgate/rootfs/busybox"

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
json_get() { # FILE EXPR
	"$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"e": e}))' "$1" "$2"
}
json_is() { # FILE EXPR WANT DESC
	got=$(json_get "$1" "$2" 2>&1) || true
	if [ "$got" = "$3" ]; then ok "$4"; else not_ok "$4"; echo "#   $2 = $got, want $3"; fi
}

# ---- build ---------------------------------------------------------------------------
t0=$(date +%s)
expect 0 "busybox: built in" "scripts/rootfs build busybox" "$SRC/scripts/rootfs" build busybox
echo "# built in $(($(date +%s) - t0)) s"
check "the tree is in NAME/root, the manifest in NAME/manifest.json" \
	test -x "$img/root/bin/busybox" -a -f "$img/manifest.json"
expect 0 "busybox: up to date" "a second build with the same recipe is a no-op" \
	"$SRC/scripts/rootfs" build busybox
digest=$(json_get "$img/manifest.json" 'e["digest"]["sha256"]')
check "the manifest's digest is the tree's (tests/tools/tree_digest.py)" \
	test "$("$PY" "$SRC/tests/tools/tree_digest.py" "$img/root" | cut -d' ' -f1)" = "$digest"
if [ -n "$BUILD" ] && [ -x "$BUILD/tests/digest_tool" ]; then
	check "and the C implementation agrees (digest_tool)" \
		test "$("$BUILD/tests/digest_tool" "$img/root" | cut -d' ' -f1)" = "$digest"
fi
json_is "$img/manifest.json" '(e["packages"][0]["name"], e["packages"][0]["version"] == e["packages"][0]["version"].strip() != "")' \
	"('busybox', True)" "the manifest records busybox and its version"
expect 0 "same digest as the image it replaced" "--force rebuilds the same tree" \
	"$SRC/scripts/rootfs" build busybox --force
expect 0 "busybox" "scripts/rootfs list shows it" "$SRC/scripts/rootfs" list
expect 0 "intact" "scripts/rootfs verify re-digests it" "$SRC/scripts/rootfs" verify busybox
expect 2 "no recipe 'nosuch'" "an unknown recipe is refused" "$SRC/scripts/rootfs" build nosuch
expect 2 "expected an image name" "a name that is a path is refused" "$SRC/scripts/rootfs" build ../x

# no root needed: the same build as an unprivileged user gives the same digest
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$work/nobody"
	chown 65534:65534 "$work/nobody"
	set +e
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$work/nobody" \
		XDG_CACHE_HOME="$work/nobody/cache" "$PY" "$SRC/scripts/rootfs" build busybox 2>&1)
	rc=$?
	set -e
	other=$(json_get "$work/nobody/cache/shipgate/rootfs/busybox/manifest.json" 'e["digest"]["sha256"]' 2>/dev/null || true)
	if [ "$rc" -eq 0 ] && [ "$other" = "$digest" ]; then
		ok "built without root (uid 65534): the same digest"
	else
		not_ok "built without root (uid 65534): the same digest"
		printf '#   exit %s, digest %s\n#   %s\n' "$rc" "$other" "$out"
	fi
fi

# ---- a job in the image ----------------------------------------------------------------
mkdir -p "$work/job/ws"
cat >"$work/job/job.json" <<'EOF'
{ "version": 1, "name": "in-busybox", "workspace": "ws", "rootfs": "busybox",
  "steps": [
    { "name": "shell", "run": ["/bin/sh", "-c", "echo hello from $(busybox | head -1 | cut -d' ' -f1-2)"] },
    { "name": "no-gcc", "run": "test ! -e /usr/bin/gcc && ! command -v gcc && test -x /bin/sh" },
    { "name": "os", "run": ["cat", "/etc/os-release"] } ] }
EOF
expect 0 "PASSED" "a job with \"rootfs\": \"busybox\" runs in it" sg_run "$work/job/job.json"
st="$work/job/shipgate-out/statement.json"
check "/bin/sh works there" grep -q "hello from BusyBox" "$work/job/shipgate-out/logs/shell.stdout"
json_is "$st" 'e["predicate"]["steps"][1]["status"]' "passed" "/usr/bin/gcc is absent there"
json_is "$st" 'e["predicate"]["environment"]["rootfs"]' "busybox" "the environment names the image"
json_is "$st" 'e["predicate"]["environment"]["digest"]["sha256"]' "$digest" \
	"the environment carries the manifest's digest"
json_is "$st" 'e["predicate"]["environment"]["manifest"]["sha256"]' \
	"$(sha256sum "$img/manifest.json" | cut -d' ' -f1)" "and the manifest file's own sha256"
json_is "$st" 'e["predicate"]["environment"]["os_release"]["ID"]' "busybox" \
	"the os-release is the image's, not the host's"
json_is "$st" 'e["predicate"]["environment"]["path"]' "$(cd "$img/root" && pwd -P)" "and its path"

cat >"$work/job/job.json" <<'EOF'
{ "version": 1, "name": "in-busybox", "workspace": "ws", "rootfs": "busybox",
  "steps": [ { "name": "cc", "run": ["gcc", "--version"] } ] }
EOF
expect 1 "command not found" "a compiler is not found in the busybox image" sg_run "$work/job/job.json"
json_is "$st" '(e["predicate"]["steps"][0]["status"], e["predicate"]["steps"][0]["exit_code"])' \
	"('failed', 127)" "the step failed with exit code 127"

cat >"$work/job/job.json" <<'EOF'
{ "version": 1, "name": "missing", "workspace": "ws", "rootfs": "no-such-image",
  "steps": [ { "name": "a", "run": ["true"] } ] }
EOF
expect 2 "$work/job/job.json: rootfs: image \"no-such-image\" is not built" \
	"an image that is not built: the job file and the JSON path" sg_run "$work/job/job.json"
expect 2 "build it with: scripts/rootfs build no-such-image" "and the command that builds it" \
	sg_run "$work/job/job.json"

# ---- exec and doctor ---------------------------------------------------------------------
weaker=""
[ "$(id -u)" -eq 0 ] || weaker="--allow-weaker"
# shellcheck disable=SC2086
expect 0 "ID=busybox" "exec --rootfs busybox" "$SHIPGATE" exec $weaker --rootfs busybox -- cat /etc/os-release
# shellcheck disable=SC2086
expect 125 "scripts/rootfs build nosuch" "exec --rootfs with an image that is not built" \
	"$SHIPGATE" exec $weaker --rootfs nosuch -- true
set +e
"$SHIPGATE" doctor --json >"$work/doctor.json" 2>/dev/null
set -e
json_is "$work/doctor.json" '[(i["name"], i["digest"]["sha256"], i["packages"]) for i in e["rootfs_images"]["images"]]' \
	"[('busybox', '$digest', 1)]" "doctor lists the image with its digest and package count"

tap_done
