#!/bin/sh
# test_network.sh: a candidate that tries to reach out or to change the network: a connect
# to a public address, raw and packet sockets, rtnetlink (a new interface, lo down), and
# the host's abstract unix sockets (which live in the network namespace, not in the file
# system: with the host's network they are the host's, containerd-shim's among them,
# CVE-2020-15257).
. "$(dirname "$0")/lib.sh"
require_root

plan 45

links_before=$(ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\n' ' ')

# ---- a connect to a public address ----------------------------------------------------------

for net in loopback none; do
	J=$(hjob "connect-$net" '{"version":1,"name":"connect","workspace":"ws","network":"'"$net"'","steps":[
	 {"name":"connect","run":["./attack","connect","1.1.1.1","443"]}]}')
	hrun "$J"
	check_survival 0 "connect ($net)"
	like "$(cat "$J/out/logs/connect.stdout")" "^connect (ENETUNREACH|EHOSTUNREACH|ECONNREFUSED)$" \
		"connect ($net): 1.1.1.1:443 cannot be reached"
	is "$(step '["connects"]' | "$PY" -c 'import json, sys; print([(c["address"], c["port"]) for c in json.load(sys.stdin)])')" \
		"[('1.1.1.1', 443)]" "connect ($net): the attempt is in the verdict, with its address"
done

# ---- raw and packet sockets, rtnetlink ----------------------------------------------------------

J=$(hjob sockets '{"version":1,"name":"sockets","workspace":"ws","steps":[
 {"name":"sockets","run":["./attack","syscalls","socket_raw","socket_packet","socket_vsock","socket_alg","netlink_newlink","netlink_lo_down"]}]}')
hrun "$J"
check_survival 0 "sockets"
log=$(cat "$J/out/logs/sockets.stdout")
like "$log" "^socket_raw EPERM$" "a raw IPv4 socket: refused (no CAP_NET_RAW)"
like "$log" "^socket_packet EPERM$" "an AF_PACKET socket: refused (by the policy)"
like "$log" "^socket_vsock EPERM$" "an AF_VSOCK socket (the hypervisor, outside every namespace): refused"
like "$log" "^socket_alg EPERM$" "an AF_ALG socket: refused"
like "$log" "^netlink_newlink EPERM$" "rtnetlink RTM_NEWLINK (a new interface): refused (no CAP_NET_ADMIN)"
like "$log" "^netlink_lo_down EPERM$" "rtnetlink: taking lo down: refused"
is "$(step '["violations"]' | "$PY" -c '
import json, sys
print([(v["family"], v["first_args"].split()[0], v["count"]) for v in json.load(sys.stdin) if v["syscall"] == "socket"])')" \
	"[('AF_PACKET', 'family=AF_PACKET', 1), ('AF_VSOCK', 'family=AF_VSOCK', 1), ('AF_ALG', 'family=AF_ALG', 1)]" \
	"sockets: the three denied sockets are three violations in the verdict, one per family, named"
is "$(grep -o '"args":"family=[A-Z_]*' "$J/out/trace/sockets.jsonl" | cut -d= -f2 | tr '\n' ' ')" "AF_PACKET AF_VSOCK AF_ALG " \
	"sockets: the trace names each one's family (packet, vsock, alg)"
check_contained "$J" "sockets"

# the same with the host's network: nothing the sandbox's root can change there either
W=$(new_tmp hostnet)
cp "$SHIPGATE_ATTACK" "$W/attack"
hexec --workspace "$W" --net host -- ./attack syscalls netlink_newlink netlink_lo_down socket_raw
like "$SG_OUT" "^netlink_newlink EPERM$" "--net host: no new interface on the host"
like "$SG_OUT" "^netlink_lo_down EPERM$" "--net host: the host's lo cannot be taken down"
like "$SG_OUT" "^socket_raw EPERM$" "--net host: no raw socket on the host's network"
is "$(ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\n' ' ')" "$links_before" "the host's interfaces are as before"
like "$(ip -o link show lo)" "<[A-Z_,]*UP" "the host's lo is still up"

# ---- the host's abstract unix sockets ------------------------------------------------------------

abs="hostile-$(unique)"
"$PY" - "$abs" "$TEST_TMP/abstract.got" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1])
s.listen(8)
s.settimeout(30)
with open(sys.argv[2], "ab", buffering=0) as out:
    out.write(b"listening\n")
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            break
        out.write(b"connection: " + c.recv(64))
        c.close()
EOF
listener=$!
track_pid "$listener"
i=0
while ! grep -q listening "$TEST_TMP/abstract.got" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
"$PY" -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect("\0" + sys.argv[1]); s.send(b"control\n")' "$abs"
sleep 0.1
like "$(cat "$TEST_TMP/abstract.got")" "^connection: control$" "control: a host process reaches the listener on @$abs"

for net in loopback none; do
	J=$(hjob "abstract-$net" '{"version":1,"name":"abstract","workspace":"ws","network":"'"$net"'","steps":[
	 {"name":"abstract","run":["./attack","abstract","'"$abs"'"]}]}')
	hrun "$J"
	check_survival 0 "abstract ($net)"
	like "$(cat "$J/out/logs/abstract.stdout")" "^abstract stream ECONNREFUSED$" \
		"abstract ($net): the host's @$abs does not exist in the sandbox's network namespace"
done
hexec --workspace "$W" --net host --evidence "$W.json" -- ./attack abstract "$abs"
landlock=$(jget "$W.json" 'd["enforced"]["landlock_abi"]')
if [ "$landlock" -ge 6 ] 2>/dev/null; then
	like "$SG_OUT" "^abstract stream EPERM$" "--net host: the host's abstract sockets are out of reach (Landlock ABI $landlock scoping)"
else
	skip "--net host: the host's abstract sockets are out of reach" "Landlock ABI $landlock < 6: no abstract-socket scoping (docs/threat-model.md)"
fi
sleep 0.1
unlike "$(cat "$TEST_TMP/abstract.got")" "HOSTILE-REACHED" "the host's listener never heard from the sandbox"
kill "$listener" 2>/dev/null
check_contained "$abs" "abstract sockets"

done_testing
