#!/usr/bin/env python3
"""verify_dsse.py ENVELOPE PUB.pem: check a shipgate verdict's DSSE signature with
python3-cryptography alone (no shipgate code). Exit 0 and print the payload if a signature
whose keyid is PUB's SSH-style fingerprint verifies over the PAE; else exit 1."""
import base64, hashlib, json, struct, sys
from cryptography.hazmat.primitives import serialization

env = json.load(open(sys.argv[1], "rb"))
pub = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
blob = b"".join(struct.pack(">I", len(s)) + s for s in (b"ssh-ed25519", raw))
keyid = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
if env["payloadType"] != "application/vnd.in-toto+json":
    sys.exit("payloadType is not application/vnd.in-toto+json")
body, ptype = base64.b64decode(env["payload"], validate=True), env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
for s in env["signatures"]:
    try:
        if s.get("keyid") == keyid:
            pub.verify(base64.b64decode(s["sig"], validate=True), pae)
            sys.stdout.buffer.write(body)
            sys.exit(0)
    except Exception:
        pass
sys.exit("no valid signature by " + keyid)
