#!/bin/sh
# test_sign.sh: signed verdicts end to end, checked by three independent verifiers:
# `shipgate verify`, the openssl CLI over a PAE rebuilt with shell tools, and
# tests/tools/verify_dsse.py (python3-cryptography). Every tampering must be rejected by
# all three; `verify --workspace` must catch every kind of change to the tree and none of
# the mtime or creation-order noise; the private key must stay invisible to the sandbox.
#
# Environment (ctest sets it): SHIPGATE, the binary; SHIPGATE_SOURCE_DIR; SHIPGATE_BUILD_DIR.
set -eu
: "${SHIPGATE:?set SHIPGATE to the shipgate binary}"
SRC=${SHIPGATE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# Debian's python3 carries python3-cryptography; a python3 earlier in PATH may not.
PY=python3
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import cryptography' 2>/dev/null && PY=/usr/bin/python3
VERIFY_PY="$SRC/tests/tools/verify_dsse.py"
# Unprivileged without a delegated cgroup, limits cannot be enforced; what is tested here
# (signing, and that the key stays out of the sandbox's namespaces) does not need them.
sg_run() {
	if [ "$(id -u)" -eq 0 ]; then "$SHIPGATE" run "$@"; else "$SHIPGATE" run --allow-weaker "$@"; fi
}

# Outside /tmp on purpose: a path the sandbox would show if anything leaked it.
work=$(mktemp -d "${SHIPGATE_BUILD_DIR:-${TMPDIR:-/tmp}}/test-sign.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
unset XDG_STATE_HOME
export HOME="$work/home"
mkdir -p "$HOME"

. "$(dirname "$0")/../tap.sh"
check_not() { # DESC CMD...: CMD must fail (and not crash)
	d=$1
	shift
	set +e
	"$@" >/dev/null 2>&1
	rc=$?
	set -e
	if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then ok "$d"; else not_ok "$d (exit $rc)"; fi
}
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
json_get() { # FILE EXPR: print a field of a JSON file (Python's json, not shipgate's code)
	"$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"e": e}))' "$1" "$2"
}

# The openssl CLI as the verifier: rebuild the PAE with shell tools, verify the first
# signature with `openssl pkeyutl -rawin` (Ed25519 signs the message itself).
openssl_verify() { # ENVELOPE PUB
	od=$(mktemp -d "$work/ossl.XXXXXX")
	json_get "$1" 'e["payloadType"]' >"$od/type"
	json_get "$1" 'e["payload"]' | base64 -d >"$od/payload.bin"
	json_get "$1" 'e["signatures"][0]["sig"]' | base64 -d >"$od/sig.bin"
	ptype=$(cat "$od/type")
	printf 'DSSEv1 %d %s %d ' "$(printf '%s' "$ptype" | wc -c)" "$ptype" "$(wc -c <"$od/payload.bin")" >"$od/pae.bin"
	cat "$od/payload.bin" >>"$od/pae.bin"
	openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$od/pae.bin" -sigfile "$od/sig.bin" >/dev/null 2>&1
}
python_verify() { # ENVELOPE PUB
	"$PY" "$VERIFY_PY" "$1" "$2" >/dev/null 2>&1
}

# ---- keygen ------------------------------------------------------------------------------

KEYS="$work/keys"
expect 0 "$KEYS/shipgate.key" "keygen prints the private key's path" "$SHIPGATE" keygen "$KEYS"
KEY="$KEYS/shipgate.key"
PUB="$KEYS/shipgate.pub"
check "keygen: the private key is mode 0600" test "$(stat -c %a "$KEY")" = 600
check "keygen: the key directory is mode 0700" test "$(stat -c %a "$KEYS")" = 700
check "keygen: the private key is PKCS#8 PEM" grep -q -- "-----BEGIN PRIVATE KEY-----" "$KEY"
check "keygen: the public key is SPKI PEM" grep -q -- "-----BEGIN PUBLIC KEY-----" "$PUB"
check "openssl reads the private key as ED25519" sh -c "openssl pkey -in '$KEY' -noout -text | grep -q ED25519"
cp "$KEY" "$work/key.before"
expect 2 "already exists: refusing to overwrite" "keygen refuses to overwrite a key" "$SHIPGATE" keygen "$KEYS"
check "keygen: the refused key is unchanged" cmp -s "$KEY" "$work/key.before"
"$SHIPGATE" keygen "$work/keys2" >/dev/null
OTHER_KEY="$work/keys2/shipgate.key"
OTHER_PUB="$work/keys2/shipgate.pub"

# The ssh-ed25519 public key line built with shell tools from the SPKI (its last 32 bytes
# are the raw key): ssh-keygen -lf must print the same fingerprint as shipgate's keyid.
ssh_fingerprint() { # PUB.pem
	openssl pkey -pubin -in "$1" -outform DER | tail -c 32 >"$work/raw.bin"
	{ printf '\000\000\000\013ssh-ed25519\000\000\000\040'; cat "$work/raw.bin"; } >"$work/blob.bin"
	echo "ssh-ed25519 $(base64 -w0 "$work/blob.bin") test" >"$work/key.ssh.pub"
	ssh-keygen -lf "$work/key.ssh.pub" | awk '{print $2}'
}
KEYGEN_ID=$("$SHIPGATE" keygen "$work/keys3" | sed -n 's/^key id: *//p')
if command -v ssh-keygen >/dev/null 2>&1; then
	check "keyid: ssh-keygen -lf prints the fingerprint shipgate keygen printed" \
		test "$(ssh_fingerprint "$work/keys3/shipgate.pub")" = "$KEYGEN_ID"
	# OpenSSH 9.2 cannot convert Ed25519 PKCS#8 (-i -m PKCS8); newer ones can: use it then
	if ssh-keygen -i -m PKCS8 -f "$work/keys3/shipgate.pub" >"$work/conv.pub" 2>/dev/null; then
		check "keyid: ssh-keygen -i -m PKCS8 conversion gives the same fingerprint" \
			test "$(ssh-keygen -lf "$work/conv.pub" | awk '{print $2}')" = "$KEYGEN_ID"
	fi
else
	echo "# ssh-keygen not installed: keyid interop not checked (apt-get install openssh-client)"
fi

# ---- run with --key, and the three verifiers ---------------------------------------------

cp -r "$SRC/examples/demo" "$work/demo"
ln -s calc.h "$work/demo/calc/link.h"  # a symlink, to retarget later
OUT="$work/demo/shipgate-out"
V="$OUT/verdict.dsse.json"
expect 0 "verdict: $V, signed by" "run --key writes and signs the verdict" \
	sg_run "$work/demo/job.json" --key "$KEY" --vsa
check "run --key: no default key is created" test ! -e "$HOME/.local/state/shipgate"
KEYID=$(json_get "$V" 'e["signatures"][0]["keyid"]')
if command -v ssh-keygen >/dev/null 2>&1; then
	check "keyid in the envelope is ssh-keygen's fingerprint of the key" test "$(ssh_fingerprint "$PUB")" = "$KEYID"
fi
check "the payload is the exact bytes of statement.json" \
	sh -c "'$PY' -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"payload\"])' '$V' | base64 -d | cmp -s - '$OUT/statement.json'"
expect 0 "verdict valid: PASSED, signed by $KEYID, subject sha256:" "shipgate verify accepts it" \
	"$SHIPGATE" verify "$V" --pub "$PUB"
expect 0 "matches the subject" "shipgate verify --workspace accepts the untouched workspace" \
	"$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$work/demo/calc"
check "openssl pkeyutl accepts it" openssl_verify "$V" "$PUB"
check "verify_dsse.py (python3-cryptography) accepts it" python_verify "$V" "$PUB"

# ---- tampering: each rejected by all three verifiers ---------------------------------------

tamper() { # KIND OUT: write a tampered copy of $V
	"$PY" - "$V" "$1" "$2" <<'EOF'
import base64, json, sys
env = json.load(open(sys.argv[1]))
kind = sys.argv[2]
if kind == "payload":
    b = bytearray(base64.b64decode(env["payload"]))
    b[len(b) // 2] ^= 0x01
    env["payload"] = base64.b64encode(bytes(b)).decode()
elif kind == "sig":
    b = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    b[10] ^= 0x01
    env["signatures"][0]["sig"] = base64.b64encode(bytes(b)).decode()
elif kind == "type":
    env["payloadType"] = "application/json"
json.dump(env, open(sys.argv[3], "w"), indent=1)
EOF
}
tamper payload "$work/t-payload.json"
tamper sig "$work/t-sig.json"
tamper type "$work/t-type.json"
cp -r "$SRC/examples/demo" "$work/demo-other"
sg_run "$work/demo-other/job.json" --key "$OTHER_KEY" -q
cp "$work/demo-other/shipgate-out/verdict.dsse.json" "$work/t-untrusted.json"

for t in payload:"bad signature: the signature by the trusted key $KEYID" \
	sig:"bad signature" \
	type:'payloadType is "application/json", expected "application/vnd.in-toto+json"' \
	untrusted:"no signature by the trusted key $KEYID (signed by"; do
	kind=${t%%:*}
	msg=${t#*:}
	f="$work/t-$kind.json"
	expect 1 "$msg" "tamper ($kind): shipgate verify rejects it with its own message" \
		"$SHIPGATE" verify "$f" --pub "$PUB"
	check_not "tamper ($kind): openssl pkeyutl rejects it" openssl_verify "$f" "$PUB"
	check_not "tamper ($kind): verify_dsse.py rejects it" python_verify "$f" "$PUB"
done
check "the untrusted key's verdict is valid under its own key" openssl_verify "$work/t-untrusted.json" "$OTHER_PUB"

# ---- garbage never crashes verify ---------------------------------------------------------

: >"$work/empty.json"
head -c 4096 /dev/urandom >"$work/random.bin"
echo '[1,2]' >"$work/array.json"
echo '{"payloadType":"application/vnd.in-toto+json","payload":"!!","signatures":[]}' >"$work/badb64.json"
expect 2 "invalid JSON" "verify: an empty file is exit 2" "$SHIPGATE" verify "$work/empty.json" --pub "$PUB"
expect 2 "random.bin" "verify: random bytes are exit 2" "$SHIPGATE" verify "$work/random.bin" --pub "$PUB"
expect 2 "expected a JSON object" "verify: a JSON array is exit 2" "$SHIPGATE" verify "$work/array.json" --pub "$PUB"
expect 2 "payload: invalid base64" "verify: bad base64 is exit 2" "$SHIPGATE" verify "$work/badb64.json" --pub "$PUB"
expect 2 "nonexistent.json" "verify: a missing verdict is exit 2" "$SHIPGATE" verify "$work/nonexistent.json" --pub "$PUB"
expect 2 "a private key where a public key was expected" "verify: a private key as --pub is exit 2" \
	"$SHIPGATE" verify "$V" --pub "$KEY"
expect 2 "no verdict given" "verify: no argument is exit 2" "$SHIPGATE" verify --pub "$PUB"
expect 2 "predicateType: expected \"https://shipgate.dev/verdict/v1\"" \
	"verify: a signed VSA is not taken for a verdict" "$SHIPGATE" verify "$OUT/vsa.dsse.json" --pub "$PUB"

# ---- the workspace: every kind of change is caught, mtimes and order are not -------------

fresh_copy() { # NAME: a plain copy of the judged workspace
	rm -rf "$work/$1"
	cp -a "$work/demo/calc" "$work/$1"
	echo "$work/$1"
}
ws=$(fresh_copy ws-changed)
echo "/* changed */" >>"$ws/calc.c"
expect 1 "subject mismatch: workspace $ws is sha256:" "--workspace: one file changed" \
	"$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$ws"
out=$("$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$ws" 2>&1 || true)
case $out in *"verdict valid"*) not_ok "--workspace: a mismatch never prints \"verdict valid\"" ;; *) ok "--workspace: a mismatch never prints \"verdict valid\"" ;; esac
ws=$(fresh_copy ws-added)
: >"$ws/new.txt"
expect 1 "subject mismatch" "--workspace: one file added" "$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$ws"
ws=$(fresh_copy ws-mode)
chmod +x "$ws/calc.c"
expect 1 "subject mismatch" "--workspace: one mode changed (chmod +x)" \
	"$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$ws"
ws=$(fresh_copy ws-link)
ln -sfn main.c "$ws/link.h"
expect 1 "subject mismatch" "--workspace: one symlink retargeted" \
	"$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$ws"
ws=$(fresh_copy ws-removed)
rm "$ws/calc.h"
expect 1 "subject mismatch" "--workspace: one file removed" "$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$ws"

# The same tree made another way: entries created in reverse order, every mtime moved.
reorder="$work/ws-reordered"
mkdir "$reorder"
(cd "$work/demo/calc" && find . -mindepth 1 -type d | sort -r) | while read -r d; do mkdir -p "$reorder/$d"; done
(cd "$work/demo/calc" && find . -mindepth 1 ! -type d | sort -r) | while read -r f; do
	cp -P "$work/demo/calc/$f" "$reorder/$f"
done
find "$reorder" -exec touch -h -d '2001-02-03 04:05:06' {} +
cp -r "$work/demo/calc" "$work/ws-cp-r"
check "the reordered copy has other mtimes" test "$(stat -c %Y "$reorder/calc.c")" != "$(stat -c %Y "$work/demo/calc/calc.c")"
expect 0 "matches the subject" "--workspace: a copy made in another order with other mtimes matches" \
	"$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$reorder"
expect 0 "matches the subject" "--workspace: a cp -r copy matches" \
	"$SHIPGATE" verify "$V" --pub "$PUB" --workspace "$work/ws-cp-r"

# ---- the VSA -------------------------------------------------------------------------------

VSA="$OUT/vsa.dsse.json"
check "the VSA verifies with python3-cryptography" python_verify "$VSA" "$PUB"
check "the VSA verifies with openssl pkeyutl" openssl_verify "$VSA" "$PUB"
"$PY" "$VERIFY_PY" "$VSA" "$PUB" >"$work/vsa.json"
"$PY" "$VERIFY_PY" "$V" "$PUB" >"$work/statement.json"
check "VSA: predicateType, verifier, result, no levels claimed" "$PY" -c '
import json, sys
v = json.load(open(sys.argv[1]))
p = v["predicate"]
assert v["predicateType"] == "https://slsa.dev/verification_summary/v1"
assert p["verifier"]["id"] == "https://shipgate.dev/shipgate"
assert p["verificationResult"] == "PASSED" and p["verifiedLevels"] == []
assert p["timeVerified"] and p["resourceUri"].startswith("file://") and p["policy"]["digest"]["sha256"]
' "$work/vsa.json"
check "VSA: the subject is the verdict's" "$PY" -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a["subject"] == b["subject"], (a["subject"], b["subject"])
' "$work/vsa.json" "$work/statement.json"
check "VSA: inputAttestations names the verdict envelope by its sha256" "$PY" -c '
import hashlib, json, sys
p = json.load(open(sys.argv[1]))["predicate"]
att = p["inputAttestations"]
assert att == [{"uri": "verdict.dsse.json", "digest": {"sha256": hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()}}], att
' "$work/vsa.json" "$V"

# ---- the default key -----------------------------------------------------------------------

STATE="$HOME/.local/state/shipgate"
cp -r "$SRC/examples/demo" "$work/demo-default"
expect 0 "created your signing key $STATE/shipgate.key (public key $STATE/shipgate.pub" \
	"run without --key creates the default key and says where" sg_run "$work/demo-default/job.json"
check "default key: mode 0600" test "$(stat -c %a "$STATE/shipgate.key")" = 600
check "default key: its directory is mode 0700" test "$(stat -c %a "$STATE")" = 700
set +e
out=$(sg_run "$work/demo-default/job.json" 2>&1)
set -e
if printf '%s' "$out" | grep -q "created"; then not_ok "default key: made once only"; else ok "default key: made once only"; fi
expect 0 "verdict valid: PASSED" "verify uses the default key's .pub without --pub" \
	"$SHIPGATE" verify "$work/demo-default/shipgate-out/verdict.dsse.json" --workspace "$work/demo-default/calc"
expect 1 "no signature by the trusted key" "verify with the default key refuses a verdict signed by --key" \
	"$SHIPGATE" verify "$V"
check "the default key's verdict passes openssl" openssl_verify "$work/demo-default/shipgate-out/verdict.dsse.json" "$STATE/shipgate.pub"

XDG="$work/xdg"
sg_run_xdg() { (XDG_STATE_HOME="$XDG" && export XDG_STATE_HOME && sg_run "$@"); }
expect 0 "created your signing key $XDG/shipgate/shipgate.key" "XDG_STATE_HOME decides where the default key lives" \
	sg_run_xdg "$work/demo-default/job.json" --quiet
check "XDG default key: mode 0600" test "$(stat -c %a "$XDG/shipgate/shipgate.key")" = 600
expect 0 "verdict valid: PASSED" "verify finds the XDG default key" \
	env XDG_STATE_HOME="$XDG" "$SHIPGATE" verify "$work/demo-default/shipgate-out/verdict.dsse.json"

# ---- keys run refuses before anything runs ---------------------------------------------------

cp -r "$SRC/examples/demo" "$work/demo-bad"
rm -rf "$work/demo-bad/shipgate-out"
expect 2 "--key: $work/none.key" "run: a missing --key is exit 2" \
	sg_run "$work/demo-bad/job.json" --key "$work/none.key"
expect 2 "a public key where a private key was expected" "run: a public key as --key is exit 2" \
	sg_run "$work/demo-bad/job.json" --key "$PUB"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ec.key" 2>/dev/null
expect 2 "key type EC, expected Ed25519" "run: a non-Ed25519 key is exit 2" \
	sg_run "$work/demo-bad/job.json" --key "$work/ec.key"
cp "$KEY" "$work/demo-bad/calc/inside.key"
expect 2 "the private key lies in the workspace" "run: a key inside the workspace is refused" \
	sg_run "$work/demo-bad/job.json" --key "$work/demo-bad/calc/inside.key"
rm "$work/demo-bad/calc/inside.key"
check "run: nothing ran for a bad key (no out dir)" test ! -e "$work/demo-bad/shipgate-out"

# ---- the private key is invisible inside the sandbox -----------------------------------------

mkdir -p "$work/peek/ws"
: >"$work/peek/ws/marker-file"  # found by the same find: proof that it searched
cat >"$work/peek/job.json" <<EOF
{
  "version": 1, "name": "peek", "workspace": "ws", "network": "none",
  "steps": [ { "name": "peek",
    "run": "find / -name shipgate.key -o -name marker-file 2>/dev/null; for k in '$STATE/shipgate.key' '$KEY' \"\$HOME/.local/state/shipgate/shipgate.key\"; do if cat \"\$k\"; then echo KEY-WAS-READ; fi; done; echo done-peeking" } ]
}
EOF
expect 0 "PASSED" "a step that hunts for the private key runs" sg_run "$work/peek/job.json"
LOG="$work/peek/shipgate-out/logs/peek.stdout"
check "the step ran to its end" grep -q done-peeking "$LOG"
check "the step's find searched the sandbox (it found the workspace's marker file)" \
	grep -qx /workspace/marker-file "$LOG"
check "cat found no key file at the host paths" grep -q "shipgate.key: No such file or directory" \
	"$work/peek/shipgate-out/logs/peek.stderr"
check_not "the step found no shipgate.key anywhere" grep -q shipgate.key "$LOG"
check_not "the step could not read the key" grep -q KEY-WAS-READ "$LOG"
for k in "$STATE/shipgate.key" "$KEY"; do
	secret=$(sed -n 2p "$k")
	check_not "the key $k is nowhere in the evidence or the logs" \
		grep -rqF -- "$secret" "$work/peek/shipgate-out"
done

# ---- a FAILED verdict is still a valid verdict -----------------------------------------------

mkdir -p "$work/fail/ws"
echo '{"version":1,"name":"fail","workspace":"ws","steps":[{"name":"no","run":["false"]}]}' >"$work/fail/job.json"
expect 1 "FAILED" "run: a failing job is exit 1" sg_run "$work/fail/job.json" --key "$KEY"
expect 0 "verdict valid: FAILED, signed by $KEYID" "verify: a FAILED verdict is validly signed" \
	"$SHIPGATE" verify "$work/fail/shipgate-out/verdict.dsse.json" --pub "$PUB" --workspace "$work/fail/ws"

# a default key directory inside the workspace is refused before the key is made there
mkdir -p "$work/keyws/ws"
echo '{"version":1,"name":"k","workspace":"ws","steps":[{"name":"a","run":"true"}]}' >"$work/keyws/job.json"
expect 2 "where the job's steps could read it" "run: a default key directory inside the workspace is refused" \
	sh -c "XDG_STATE_HOME='$work/keyws/ws/state' '$SHIPGATE' run '$work/keyws/job.json' --out '$work/keyws/out'"
check "run: ... and no key was created there" test ! -e "$work/keyws/ws/state"

# a hard link to the key inside the workspace is the key there, whatever path --key names
"$SHIPGATE" keygen "$work/linkkey" >/dev/null
ln "$work/linkkey/shipgate.key" "$work/keyws/ws/stolen.key"
expect 2 "hard links" "run: a key file with a hard link (in the workspace) is refused" \
	"$SHIPGATE" run "$work/keyws/job.json" --key "$work/linkkey/shipgate.key" --out "$work/keyws/out2"
rm -f "$work/keyws/ws/stolen.key"

# --key-fd N is held to --key's rules when N is open on a file: the file it refers to
# must lie outside what the steps see and have one link; a pipe has no place to check
mkdir -p "$work/kf/ws/k"
"$SHIPGATE" keygen "$work/kf/ws/k" >/dev/null
printf '%s\n' '{"version":1,"name":"kf","workspace":"ws","limits":{"memory_mb":128,"pids":32},' \
	' "steps":[{"name":"show","run":"cat /workspace/k/shipgate.key; echo step-ran"}]}' >"$work/kf/job.json"
expect 2 "the private key lies in the workspace" "run --key-fd 5 5<KEY-IN-WORKSPACE: refused as --key is" \
	sg_run "$work/kf/job.json" --key-fd 5 --quiet 5<"$work/kf/ws/k/shipgate.key"
expect 2 "--key-fd 5, the file $work/kf/ws/k/shipgate.key" "run --key-fd: the message names the fd and the file" \
	sg_run "$work/kf/job.json" --key-fd 5 --quiet 5<"$work/kf/ws/k/shipgate.key"
check "run --key-fd: nothing ran for the refused key (no out dir)" test ! -e "$work/kf/shipgate-out"
expect 2 "the private key lies in the workspace" "run --key KEY-IN-WORKSPACE: the same rule" \
	sg_run "$work/kf/job.json" --key "$work/kf/ws/k/shipgate.key" --quiet
ln "$work/linkkey/shipgate.key" "$work/kf/ws/stolen.key"
expect 2 "hard links" "run --key-fd 5 5<KEY with a hard link (in the workspace): refused" \
	sg_run "$work/kf/job.json" --key-fd 5 --quiet 5<"$work/linkkey/shipgate.key"
rm -f "$work/kf/ws/stolen.key"
check "run --key-fd: still nothing ran (no out dir)" test ! -e "$work/kf/shipgate-out"
# a key file outside everything the steps see, on an fd: signs
check "run --key-fd 5 5<KEY outside the workspace: passes" \
	sg_run "$work/kf/job.json" --key-fd 5 --quiet --out "$work/kf/out-file" 5<"$KEY"
check "... signed by that key" "$SHIPGATE" verify "$work/kf/out-file/verdict.dsse.json" --pub "$PUB" --quiet
# a pipe passes: its sender answers for where the key came from
pipe_run() { # OUT: the key on a pipe as fd 5
	cat "$KEY" | sg_run "$work/kf/job.json" --key-fd 5 --quiet --out "$1" 5<&0
}
check "run --key-fd 5 on a pipe: passes" pipe_run "$work/kf/out-pipe"
check "... signed by that key" "$SHIPGATE" verify "$work/kf/out-pipe/verdict.dsse.json" --pub "$PUB" --quiet

# no OpenSSL configuration is read: $OPENSSL_CONF (or openssl.cnf) would let something
# outside shipgate load providers into the signer. A FIFO there blocks whoever opens it.
mkfifo "$work/openssl.cnf"
expect 0 "verdict valid" "verify: \$OPENSSL_CONF is never opened (a FIFO there would hang it)" \
	env OPENSSL_CONF="$work/openssl.cnf" timeout 20 "$SHIPGATE" verify "$V" --pub "$PUB"
expect 0 "SHA256:" "keygen: \$OPENSSL_CONF is never opened" \
	env OPENSSL_CONF="$work/openssl.cnf" timeout 20 "$SHIPGATE" keygen "$work/cnfkey"

# ---- the supervisor never maps libcrypto -------------------------------------------------
# run reads and signs with the key in short-lived children (sg_key_crypto_in_child): the
# process that watches the sandbox, for as long as it runs, holds only the key's text.
mkdir -p "$work/lean/ws"
echo x >"$work/lean/ws/f"
printf '{"version":1,"name":"lean","workspace":"ws","steps":[{"name":"wait","run":["sleep","2"]}]}\n' \
	>"$work/lean/job.json"
weaker=
[ "$(id -u)" -eq 0 ] || weaker=--allow-weaker
"$SHIPGATE" run $weaker "$work/lean/job.json" --key "$KEY" --quiet --out "$work/lean/out" &
lean_pid=$!
maps_seen=0 crypto_mapped=0
for _ in $(seq 1 100); do
	if grep -q '/shipgate$' "/proc/$lean_pid/maps" 2>/dev/null; then
		maps_seen=$((maps_seen + 1))
		grep -q libcrypto "/proc/$lean_pid/maps" 2>/dev/null && crypto_mapped=$((crypto_mapped + 1))
	fi
	sleep 0.02
done
wait "$lean_pid" && lean_rc=0 || lean_rc=$?
check "run's supervisor, looked at $maps_seen times while its step ran, never had libcrypto mapped" \
	test "$maps_seen" -gt 10 -a "$crypto_mapped" -eq 0
check "... and the verdict is signed by --key" test "$lean_rc" -eq 0 -a -n \
	"$("$SHIPGATE" verify "$work/lean/out/verdict.dsse.json" --pub "$PUB" --quiet && echo ok)"

# started with stdout or stderr closed: the signer's socket must not take their numbers
# (the progress lines went into it, and the signature failed after the run; with stderr
# closed the signer held the socket as its stderr and the run never ended)
"$SHIPGATE" run $weaker "$work/kf/job.json" --key "$KEY" --out "$work/closed1" >&- 2>/dev/null && c1=0 || c1=$?
check "run with stdout closed: passes (exit $c1)" test "$c1" -eq 0
check "... and its verdict is signed" "$SHIPGATE" verify "$work/closed1/verdict.dsse.json" --pub "$PUB" --quiet
timeout -k 3 30 "$SHIPGATE" run $weaker "$work/kf/job.json" --key "$KEY" -q --out "$work/closed2" 2>&- && c2=0 || c2=$?
check "run -q with stderr closed: passes and ends (exit $c2)" test "$c2" -eq 0
check "... and its verdict is signed" "$SHIPGATE" verify "$work/closed2/verdict.dsse.json" --pub "$PUB" --quiet

# exit codes at key loading, as uid 65534: an unwritable default key directory is the
# user's (2); a signer process that cannot be started is shipgate's (3, the contract's
# infrastructure error)
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1 && command -v prlimit >/dev/null 2>&1; then
	nb=$(mktemp -d /tmp/sg-sign-nobody.XXXXXX)
	mkdir "$nb/ro" "$nb/ws" && echo x >"$nb/ws/f"
	printf '{"version":1,"name":"nb","workspace":"ws","steps":[{"name":"a","run":["true"]}]}\n' >"$nb/job.json"
	cp "$KEY" "$nb/k.key"
	chown -R 65534:65534 "$nb"
	chmod 555 "$nb/ro"
	set +e
	setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$nb/ro" XDG_STATE_HOME= \
		"$SHIPGATE" run "$nb/job.json" --allow-weaker -q --out "$nb/o1" </dev/null >/dev/null 2>"$nb/e1"
	r1=$?
	# (LeakSanitizer's check at exit needs a process of its own: none under nproc 1)
	setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --nproc=1 -- \
		env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$SHIPGATE" run "$nb/job.json" --allow-weaker -q --key "$nb/k.key" --out "$nb/o2" </dev/null >/dev/null 2>"$nb/e2"
	r2=$?
	set -e
	check "an unwritable default key directory: exit 2, named ($r1: $(cat "$nb/e1"))" \
		sh -c "test $r1 -eq 2 && grep -q '$nb/ro' '$nb/e1' && test ! -e '$nb/o1/statement.json'"
	check "no process for the signer (nproc 1): exit 3, and nothing ran ($r2: $(cat "$nb/e2"))" \
		sh -c "test $r2 -eq 3 && grep -q fork '$nb/e2' && test ! -e '$nb/o2/statement.json'"
	rm -rf "$nb"
fi

tap_done
