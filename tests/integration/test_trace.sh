#!/bin/sh
# test_trace.sh: runtime traces, checked against what the programs really did: every
# program started is in the trace with its argv, in causal order; denied calls carry
# their names and the program, and fail the step when the policy says so; network
# attempts under `none` are recorded; heavy forking loses nothing and does not hang; the
# cap holds; the candidate cannot write the trace; the memory timeline shows growth.
# Then what a sceptical reader would try (trace_probe does each): sends with an address,
# fileless execs, denied calls on paths and sockets of several families, a flood of
# denials, and calls the kernel refuses (a bad pointer, a bad length).
. "$(dirname "$0")/lib.sh"
plan 75

work=$(new_tmp trace)

# 1. fifty programs, each with its own argv, in order
cat >"$work/fifty.sh" <<'SH'
#!/bin/sh
i=1
while [ $i -le 50 ]; do /bin/echo "prog-$i" >/dev/null; i=$((i + 1)); done
SH
chmod +x "$work/fifty.sh"
sg_exec --workspace "$work" --trace "$work/t1.jsonl" -- ./fifty.sh
is "$SG_RC" 0 "fifty programs: the script ran"
got=$("$PY" - "$work/t1.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ex = [e for e in ev if e["event"] == "exec"]
echo = [e["argv"][1] for e in ex if e["path"] == "/bin/echo"]
print(len(ex), ",".join(echo) == ",".join("prog-%d" % i for i in range(1, 51)), ex[0]["path"].endswith("fifty.sh"))
PY
)
is "$got" "51 True True" "fifty programs: the script and its 50 echos, each argv, in causal order"
parents=$("$PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ex = [e for e in ev if e["event"] == "exec"]
print(all(e["ppid"] == ex[0]["pid"] for e in ex[1:]), ex[0]["ppid"])' "$work/t1.jsonl")
is "$parents" "True 1" "fifty programs: each child names the script as its parent, the script init"
exits=$(grep -c '"event":"exit"' "$work/t1.jsonl")
is "$exits" 51 "fifty programs: each exit is there too"

# what the supervisor reads per traced program: its /proc/PID/status and its parent's,
# after the reply to its exec; its exit reuses the pid noted then. Walking every ancestor
# up to the host's init, as it once did, cost a build in `run` 6% more; reading its own
# again at the exit, and all of it while the program waited, cost 1,000 execs in `run`
# 215 ms over --no-trace, now 148 ms.
timeout -k 5 60 strace -qq -e trace=openat -o "$work/st.txt" "$SHIPGATE" exec --workspace "$work" \
	--trace "$work/t1b.jsonl" -- ./fifty.sh </dev/null >/dev/null 2>&1
status_reads=$(grep -cE '"/proc/[0-9]+/status"' "$work/st.txt")
ok "the supervisor read /proc/PID/status $status_reads times for 51 programs (at most 2 each)" \
	sh -c '[ "$1" -ge 51 ] && [ "$1" -le 102 ]' _ "$status_reads"
# and its /proc/PID/auxv (where the image's AT_RANDOM bytes are) at the exec only: at the
# exit, the bytes at the address noted then tell whether the exec replaced the image
auxv_reads=$(grep -cE '"/proc/[0-9]+/auxv"' "$work/st.txt")
ok "the supervisor read /proc/PID/auxv $auxv_reads times for 51 programs (once each)" \
	sh -c '[ "$1" -ge 51 ] && [ "$1" -le 53 ]' _ "$auxv_reads"

# and of a program's memory: its path, its argv array, then all its argument strings in
# one process_vm_readv, and its image id at exec and at exit. One read per argument, as
# it once did, made 21 reads per program of a C build (cc1 has some 40 arguments).
cat >"$work/forty.sh" <<'SH'
#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10; do
	/bin/echo a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11 a12 a13 a14 a15 a16 a17 a18 a19 a20 \
		a21 a22 a23 a24 a25 a26 a27 a28 a29 a30 a31 a32 a33 a34 a35 a36 a37 a38 a39 "$i" >/dev/null
done
SH
chmod +x "$work/forty.sh"
timeout -k 5 60 strace -qq -e trace=process_vm_readv -o "$work/st2.txt" "$SHIPGATE" exec --workspace "$work" \
	--trace "$work/t1c.jsonl" -- ./forty.sh </dev/null >/dev/null 2>&1
mem_reads=$(grep -c '^process_vm_readv' "$work/st2.txt")
ok "the supervisor read memory $mem_reads times for 11 programs, 10 of them with 41 arguments (at most 7 each)" \
	sh -c '[ "$1" -ge 11 ] && [ "$1" -le 77 ]' _ "$mem_reads"
is "$("$PY" -c '
import json, sys
ex = [e for e in (json.loads(l) for l in open(sys.argv[1])) if e["event"] == "exec"][1:]
print([len(e["argv"]) for e in ex] == [41] * 10 and [e["argv"][40] for e in ex] == [str(i) for i in range(1, 11)]
      and all(e["argv"][1:40] == ["a%d" % i for i in range(1, 40)] for e in ex))' "$work/t1c.jsonl")" \
	True "forty arguments: every argv whole, each its own last argument"

# the pids are the sandbox's even when /proc/PID/status is longer than the supervisor's
# first read of it: a rootless run keeps the user's supplementary groups, and about 780
# four-digit gids put the end of the NSpid line at 4 KiB (a cut line once gave 0, part of
# a pid, or the host's pid)
gdir=$(mktemp -d /tmp/sg-trace-groups.XXXXXX)
mkdir "$gdir/W"
printf '#!/bin/sh\n/bin/sh -c "/bin/true; /bin/sh -c /bin/true"\n' >"$gdir/W/chain.sh"
chmod -R a+rwX "$gdir"
chmod a+rx "$gdir/W/chain.sh"
bad=
for g in 772 773 774 775 776 777 778 779 780 781 782; do
	rm -f "$gdir/t.jsonl"
	setpriv --reuid=65534 --regid=65534 --groups="$(seq -s, 1000 $((1000 + g)))" env HOME="$gdir" \
		"$SHIPGATE" exec -q --allow-weaker --workspace "$gdir/W" --trace "$gdir/t.jsonl" -- ./chain.sh \
		</dev/null >/dev/null 2>&1
	shape=$("$PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ex = [(e["pid"], e["ppid"]) for e in ev if e["event"] == "exec"]
exits = sorted(e["pid"] for e in ev if e["event"] == "exit")
ok = len(ex) == 5 and ex[0][1] == 1 and all(p < 50 for p, _ in ex) and sorted(p for p, _ in ex) == exits \
	and all(pp in [1] + [p for p, _ in ex[:i]] for i, (_, pp) in enumerate(ex))
print("ok" if ok else ex)' "$gdir/t.jsonl" 2>&1)
	[ "$shape" = ok ] || bad="$bad $g:$shape"
done
rm -rf "$gdir"
is "${bad:-none}" none "pids stay the sandbox's with 772 to 782 supplementary groups (status past 4 KiB)"

# 2. ptrace, mount and bpf: named, attributed, and the step fails
job=$(new_tmp job)
mkdir "$job/ws"
cp "$SHIPGATE_TRY_SYSCALL" "$job/ws/try"
cat >"$job/job.json" <<'J'
{"version":1,"name":"bad","workspace":"ws","steps":[{"name":"escape","run":["./try","ptrace","mount","bpf"]}]}
J
sg_run "$job/job.json"
is "$SG_RC" 1 "violations: the job fails"
st="$job/shipgate-out/statement.json"
is "$(jget "$st" 'd["predicate"]["steps"][0]["status"]')" violation "violations: the step's status is violation"
is "$(jget "$st" 'sorted(v["syscall"] for v in d["predicate"]["steps"][0]["violations"])')" '["bpf", "mount", "ptrace"]' \
	"violations: ptrace, mount and bpf are named (resolved by libseccomp)"
is "$(jget "$st" 'all(v["program"].endswith("/try") for v in d["predicate"]["steps"][0]["violations"])')" true \
	"violations: attributed to the program that made them"
like "$(cat "$job/shipgate-out/logs/escape.stdout")" "ptrace EPERM" "violations: the program still got the policy's errno"
is "$(jget "$st" 'd["predicate"]["steps"][0]["trace"]["sha256"] == __import__("hashlib").sha256(open("'"$job"'/shipgate-out/trace/escape.jsonl","rb").read()).hexdigest()')" true \
	"violations: the verdict carries the trace file's sha256"

# 3. network attempts under none
sg_exec --workspace "$work" --net none --trace "$work/t3.jsonl" --evidence "$work/e3.json" -- \
	sh -c 'python3 -c "import socket
s = socket.socket()
try:
    s.connect((\"1.1.1.1\", 443))
except OSError as e:
    print(\"refused\", e.errno)"; getent hosts example.org; echo getent=$?'
like "$SG_OUT" "refused" "network: the connect to 1.1.1.1:443 fails"
like "$SG_OUT" "getent=2" "network: the name does not resolve"
is "$(jget "$work/e3.json" '[c["address"] + ":" + str(c["port"]) for c in d["connects"] if not c["dns"]]')" '["1.1.1.1:443"]' \
	"network: the attempt to 1.1.1.1:443 is recorded"
is "$(jget "$work/e3.json" 'any(c["dns"] and c["program"].endswith("getent") for c in d["connects"])')" true \
	"network: the DNS lookup is visible as such, with its program"

# 4. 500 short children: nothing lost, no deadlock
cat >"$work/fork500.sh" <<'SH'
#!/bin/sh
i=0
while [ $i -lt 500 ]; do /bin/true & i=$((i + 1)); done
wait
SH
chmod +x "$work/fork500.sh"
start=$(date +%s)
sg_exec --workspace "$work" --timeout 60 --trace "$work/t4.jsonl" -- ./fork500.sh
is "$SG_RC" 0 "500 children: the script finishes"
num "$(( $(date +%s) - start ))" -lt 50 "500 children: well within the timeout (no deadlock)"
is "$(grep -c '"path":"/bin/true"' "$work/t4.jsonl")" 1000 "500 children: 500 execs and 500 exits, none lost"

# ... and 400 programs alive at once: the table of live programs grows from its first 64
#     slots to fit them (it once was 4,096 slots from the start), and each exit still
#     finds its program
cat >"$work/live400.sh" <<'SH'
#!/bin/sh
i=0
while [ $i -lt 400 ]; do /bin/sleep 3 & i=$((i + 1)); done
wait
SH
chmod +x "$work/live400.sh"
sg_exec --workspace "$work" --timeout 60 --pids 1000 --trace "$work/t4b.jsonl" -- ./live400.sh
is "$SG_RC" 0 "400 alive at once: the script finishes"
is "$(python3 - "$work/t4b.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
execs = {e["pid"] for e in ev if e["event"] == "exec" and e.get("path") == "/bin/sleep"}
exits = [e for e in ev if e["event"] == "exit" and e["path"] == "/bin/sleep"]
print(len(execs), len(exits), {e["pid"] for e in exits} == execs,
      all(e["code"] == 0 and e["duration_ms"] >= 2500 for e in exits))
PY
)" "400 400 True True" "400 alive at once: 400 execs, and 400 exits of the same pids with their code and duration"

# 5. the cap holds against a program that execs far more than fits
cat >"$work/many.sh" <<'SH'
#!/bin/sh
i=0
while [ $i -lt 3000 ]; do /bin/true; i=$((i + 1)); done
SH
chmod +x "$work/many.sh"
sg_exec --workspace "$work" --trace "$work/t5.jsonl" --trace-cap 64 -- ./many.sh
is "$SG_RC" 0 "cap: 3000 execs run"
size=$(stat -c %s "$work/t5.jsonl")
num "$size" -le 66000 "cap: the trace stays within 64 KiB (plus the marker line)"
like "$(tail -n 1 "$work/t5.jsonl")" '"event":"truncated"' "cap: the cut is recorded"

# 6. the candidate cannot write into the trace: with the workspace = the job dir, the
#    out dir is visible inside, but only as copy-on-write
self=$(new_tmp self)
cat >"$self/job.json" <<'J'
{"version":1,"name":"self","workspace":".","steps":[
 {"name":"one","run":"true"},
 {"name":"two","run":"echo '{\"event\":\"forged\"}' >> shipgate-out/trace/one.jsonl; echo forged > shipgate-out/trace/two.jsonl; ls shipgate-out; true"}]}
J
sg_run "$self/job.json"
is "$SG_RC" 0 "trace: the job runs"
is "$(cat "$self/shipgate-out/logs/two.stdout")" "" "trace: the out dir inside the workspace is hidden from the steps (empty)"
unlike "$(cat "$self/shipgate-out/trace/one.jsonl")" '^\{"event":"forged"\}$' "trace: an earlier step's trace on the host is not changed from inside"
unlike "$(cat "$self/shipgate-out/trace/two.jsonl")" '^forged$' "trace: the running step's trace is not changed from inside"
is "$(jget "$self/shipgate-out/statement.json" 'd["predicate"]["steps"][1]["trace"]["sha256"] == __import__("hashlib").sha256(open("'"$self"'/shipgate-out/trace/two.jsonl","rb").read()).hexdigest()')" true \
	"trace: the recorded digest matches the file on the host"

# 7. the memory timeline of a program that grows to OOM
if is_root; then
	sg_exec --workspace "$work" --memory 160 --trace "$work/t7.jsonl" --evidence "$work/e7.json" -- \
		python3 -c '
import time
a = []
while True:
    a.append(bytearray(8 << 20))
    time.sleep(0.08)'
	is "$(jget "$work/e7.json" 'd["status"]')" oom "timeline: the program is killed by the OOM killer"
	grow=$("$PY" -c '
import json, sys
s = [json.loads(l)["memory_kb"] for l in open(sys.argv[1]) if "\"sample\"" in l]
# up to the peak: the last sample, or the one before it when a sample was taken after the kill
p = s.index(max(s))
ok = len(s) >= 3 and p >= len(s) - 2 and s[p] >= 3 * s[0] and s[p] > 80 * 1024
ok = ok and all(b >= 0.9 * a for a, b in zip(s[:p], s[1:p + 1]))  # growing, give or take a collection
print(ok)
if not ok: print(s, file=sys.stderr)' "$work/t7.jsonl")
	is "$grow" True "timeline: the samples show memory growing to the limit"
else
	skip "timeline: oom" "needs a memory cgroup (root)"
	skip "timeline: growth" "needs a memory cgroup (root)"
fi

# 8. tracing costs: the trace is off for exec unless asked, on for run
sg_exec --workspace "$work" --evidence "$work/e8.json" -- true
is "$(jget "$work/e8.json" '"execs" in d')" false "exec: no trace unless --trace"
is "$(jget "$self/shipgate-out/statement.json" 'd["predicate"]["steps"][0]["execs"]')" 1 "run: traced by default (execs counted)"
# tq FILE EXPR: the Python expression EXPR over ev, the trace's events (one per line)
tq() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
try:
    ev = [json.loads(l) for l in open(sys.argv[1])]
    v = eval(sys.argv[2], {"ev": ev})
    print(v if isinstance(v, str) else json.dumps(v))
except Exception as e:
    print("<error %s: %s>" % (type(e).__name__, e))
EOF
}
probe="$work/probe"
cp "$SHIPGATE_TRACE_PROBE" "$probe"

# 9. sends with an address are network attempts like connects (UDP DNS as musl's resolver
#    sends it, sendmsg with msg_name, sendmmsg, TCP fast open); sends on a connected
#    socket, and anything to loopback, are not; and the kernel, not the listener, answers
sg_exec --workspace "$work" --trace "$work/t9.jsonl" --evidence "$work/e9.json" -- \
	./probe sendto_dns sendmsg_name sendto_fastopen sendmmsg_name send_connected=200
is "$(echo "$SG_OUT" | tr '\n' ' ')" "sendto_dns ENETUNREACH sendmsg_name ENETUNREACH sendto_fastopen ENETUNREACH sendmmsg_name ENETUNREACH send_connected OK " \
	"sends: each call got the kernel's own answer (observed, never answered by the listener)"
is "$(jget "$work/e9.json" 'sorted((c["syscall"], c["address"], c["port"], c["dns"]) for c in d["connects"])')" \
	'[["sendmmsg", "1.1.1.1", 123, false], ["sendmmsg", "9.9.9.9", 123, false], ["sendmsg", "1.1.1.1", 443, false], ["sendto", "1.1.1.1", 53, true], ["sendto", "1.1.1.1", 443, false]]' \
	"sends: sendto 1.1.1.1:53 (DNS), sendmsg 1.1.1.1:443, both sendmmsg destinations and the fast open are in the verdict's connects"
is "$(tq "$work/t9.jsonl" '[(e["syscall"], e["address"], e["port"], e.get("fastopen", False)) for e in ev if e["event"] == "connect"]')" \
	'[["sendto", "1.1.1.1", 53, false], ["sendmsg", "1.1.1.1", 443, false], ["sendto", "1.1.1.1", 443, true], ["sendmmsg", "9.9.9.9", 123, false], ["sendmmsg", "1.1.1.1", 123, false]]' \
	"sends: the trace has each one as a connect event naming its syscall, in order; the fast open says so; 600 sends without an address and one to loopback are not there"
is "$(jget "$work/e9.json" '[c["program"] for c in d["connects"] if c["dns"]]')" '["/workspace/probe"]' \
	"sends: the DNS query is attributed to its program"

# ... and a connect the kernel refuses is not a connect: addrlen 1000 (EINVAL) is written
# as invalid, an address in unmapped memory (EFAULT) names no family and is left out
sg_exec --workspace "$work" --trace "$work/t9b.jsonl" --evidence "$work/e9b.json" -- ./probe connect_badlen connect_fault
is "$(echo "$SG_OUT" | tr '\n' ' ')" "connect_badlen EINVAL connect_fault EFAULT " "bad connects: the kernel refused both"
is "$(jget "$work/e9b.json" 'd["connects"]')" '[]' "bad connects: the verdict lists neither"
is "$(tq "$work/t9b.jsonl" '[(e["syscall"], e["address"], e["invalid"], e["errno"]) for e in ev if e["event"] == "connect"]')" \
	'[["connect", "1.1.1.1", true, "EINVAL"]]' "bad connects: the trace marks the one with a bad length invalid (EINVAL)"

# 10. fileless execs: execveat(fd, "", AT_EMPTY_PATH), fexecve of a memfd, and execveat
#     relative to a directory fd
sg_exec --workspace "$work" --trace "$work/t10.jsonl" -- ./probe execveat_empty fexecve_memfd execveat_dirfd
like "$SG_OUT" "via-execveat-empty-path" "fileless: execveat of an fd ran"
is "$(tq "$work/t10.jsonl" '[(e["path"], e.get("fileless", False)) for e in ev if e["event"] == "exec"][1:]')" \
	'[["/usr/bin/echo", false], ["/memfd:innocent (deleted)", true], ["/usr/bin/echo", false]]' \
	"fileless: each exec names what ran (the fd's file, the memfd, the dirfd's entry), and the memfd is marked fileless"
is "$(tq "$work/t10.jsonl" '[e.get("fd") for e in ev if e["event"] == "exec"][1:]')" '[3, 5, null]' \
	"fileless: an exec of a descriptor says which"
is "$(tq "$work/t10.jsonl" '[e["path"] for e in ev if e["event"] == "exit"][:3]')" \
	'["/usr/bin/echo", "/memfd:innocent (deleted)", "/usr/bin/echo"]' \
	"fileless: their exits name the same programs"

# ... and the same memfd run by a path to its descriptor (/proc/self/fd/N, /dev/fd/N,
# /proc/<pid>/fd/N: magic links the supervisor cannot follow from outside)
sg_exec --workspace "$work" --trace "$work/t10b.jsonl" -- ./probe execve_procfd=self execve_procfd=devfd execve_procfd=pid
is "$(printf '%s\n' "$SG_OUT" | grep -c via-procfd)" 3 "fileless by path: all three ran"
is "$(tq "$work/t10b.jsonl" '[(e["path"], e.get("fileless", False)) for e in ev if e["event"] == "exec"][1:]')" \
	'[["/memfd:viaproc (deleted)", true], ["/memfd:viaproc (deleted)", true], ["/memfd:viaproc (deleted)", true]]' \
	"fileless by path: each is in the trace, named by the memfd and marked fileless"

# ... and a relative path that climbs out of the cwd names a program all the same
sg_exec --workspace "$work" --trace "$work/t10b.jsonl" -- sh -c 'mkdir -p sub && cd sub && ../probe spawn=up'
is "$(tq "$work/t10b.jsonl" '[e["path"] for e in ev if e["event"] == "exec"][2:]')" '["../probe", "/bin/echo"]' \
	"relative: an exec of ../probe from a subdirectory is a program (resolved against the cwd, not inside it)"

# 11. denied calls on paths show the paths; denied sockets show their family, and
#     different families are different violations
sg_exec --workspace "$work" --policy launch --trace "$work/t11.jsonl" --evidence "$work/e11.json" -- \
	./probe chown mknodat setxattr
is "$(echo "$SG_OUT" | tr '\n' ' ')" "chown EPERM mknodat EPERM setxattr EPERM " "paths: the launch policy denies chown, mknodat, setxattr"
is "$(tq "$work/t11.jsonl" '[e["syscall"] + ": " + e["args"] for e in ev if e["event"] == "denied"]')" \
	'["chown: path=/tmp/trace-probe-file uid=5 gid=5", "mknodat: dirfd=AT_FDCWD path=/tmp/trace-probe-node mode=010600 dev=0x0", "setxattr: path=/tmp/trace-probe-file name=user.probe size=1 flags=0x0"]' \
	"paths: each denial shows the path (and the name, owner, mode) read from the process, no raw pointer"
is "$(jget "$work/e11.json" '[v["first_args"].split()[0] for v in d["violations"]]')" \
	'["path=/tmp/trace-probe-file", "dirfd=AT_FDCWD", "path=/tmp/trace-probe-file"]' \
	"paths: so does the verdict's first_args"
sg_exec --workspace "$work" --trace "$work/t11b.jsonl" --evidence "$work/e11b.json" -- \
	./probe socket=17 socket=38 socket=40 socket=17
is "$(echo "$SG_OUT" | tr '\n' ' ')" "socket EPERM socket EPERM socket EPERM socket EPERM " "sockets: packet, alg and vsock sockets are denied"
is "$(jget "$work/e11b.json" '[(v["syscall"], v.get("family"), v["count"]) for v in d["violations"]]')" \
	'[["socket", "AF_PACKET", 2], ["socket", "AF_ALG", 1], ["socket", "AF_VSOCK", 1]]' \
	"sockets: one violation per family, named, with exact counts"
is "$(tq "$work/t11b.jsonl" '[e["args"] for e in ev if e["event"] == "denied"]')" \
	'["family=AF_PACKET type=SOCK_DGRAM", "family=AF_ALG type=SOCK_DGRAM", "family=AF_VSOCK type=SOCK_DGRAM", "family=AF_PACKET type=SOCK_DGRAM"]' \
	"sockets: the trace names each family and type"

# 12. a flood of denials does not push what follows out of the trace: the first 16 of a
#     kind are written, then summary lines; the counts stay exact
sg_exec --workspace "$work" --trace "$work/t12.jsonl" --trace-cap 64 --evidence "$work/e12.json" -- \
	./probe flood=20000 spawn=after-flood
is "$(echo "$SG_OUT" | tr '\n' ' ')" "flood EPERM after-flood spawn OK " "flood: 20000 denied unshare calls, then a program"
is "$(tq "$work/t12.jsonl" 'sum(1 for e in ev if e["event"] == "denied")')" 16 "flood: 16 denials are written one by one"
is "$(tq "$work/t12.jsonl" '[e["count"] for e in ev if e["event"] == "repeated"][-1]')" 20000 \
	"flood: the last summary line counts all 20000"
is "$(tq "$work/t12.jsonl" '[(e["of"], e["syscall"], e["program"], e["final"]) for e in ev if e["event"] == "repeated"][-1]')" \
	'["denied", "unshare", "/workspace/probe", true]' "flood: it says what was repeated, by which program, and that it is final"
is "$(tq "$work/t12.jsonl" '[e["argv"] for e in ev if e["event"] == "exec"][-1]')" '["/bin/echo", "after-flood"]' \
	"flood: the program started after the flood is in the trace"
is "$(tq "$work/t12.jsonl" '[e["path"] for e in ev if e["event"] == "exit"]')" '["/bin/echo", "./probe"]' \
	"flood: so are its exit and the main program's"
is "$(tq "$work/t12.jsonl" 'any(e["event"] == "truncated" for e in ev)')" false "flood: the trace is not cut"
is "$(jget "$work/e12.json" '[(v["syscall"], v["count"]) for v in d["violations"]]')" '[["unshare", 20000]]' \
	"flood: the verdict's count is exact"

# 13. execs the kernel refuses are not recorded as if they happened: an execve of a path
#     that runs into unmapped memory (EFAULT) is an invalid exec, not an exec of /bin/tr;
#     an execve of a file that is no program (ENOEXEC) is followed by exec_failed, as
#     soon as the same process shows it still has its old image
printf 'hello\n' >"$work/notabin"
chmod 0755 "$work/notabin"
sg_exec --workspace "$work" --trace "$work/t13.jsonl" --evidence "$work/e13.json" -- \
	./probe execve_fault execve_badargv execve=./notabin spawn=after
is "$(echo "$SG_OUT" | tr '\n' ' ')" "execve_fault EFAULT execve_badargv EFAULT execve ENOEXEC after spawn OK " \
	"failed execs: the kernel refused all three"
is "$(tq "$work/t13.jsonl" '[(e["path"], e.get("invalid", False), e.get("errno")) for e in ev if e["event"] == "exec"]')" \
	'[["./probe", false, null], [null, true, "EFAULT"], ["/bin/true", true, "EFAULT"], ["./notabin", false, null], ["/bin/echo", false, null]]' \
	"failed execs: the EFAULT ones are recorded as invalid; a path that could be read is kept, one that could not is null"
is "$(tq "$work/t13.jsonl" '[(e["event"], e["path"]) for e in ev if e["event"] in ("exec", "exec_failed")][3:5]')" \
	'[["exec", "./notabin"], ["exec_failed", "./notabin"]]' "failed execs: the ENOEXEC one is followed by exec_failed"
is "$(tq "$work/t13.jsonl" '[e["path"] for e in ev if e["event"] == "exit"]')" '["/bin/echo", "./probe"]' \
	"failed execs: no exit of a program that never started"
is "$(jget "$work/e13.json" 'd["execs"]')" 2 "failed execs: the verdict counts neither"
# an exec through /proc/self/root/... is resolved in the process's own root: a symlink met
# there pointing at a host path was followed from the supervisor's root, and the trace said
# whether that host file exists and is executable (a one-bit oracle on the host's files)
hostbin=$(new_tmp hostonly)/secret-tool
printf '#!/bin/sh\n' >"$hostbin"
chmod 0700 "$hostbin"
job=$(new_tmp job)
mkdir "$job/ws"
cat >"$job/job.json" <<J
{"version":1,"name":"oracle","workspace":"ws","steps":[{"name":"probe","run":"ln -s $hostbin /tmp/l1; /proc/self/root/tmp/l1 2>/dev/null; /proc/self/root/usr/bin/true; true"}]}
J
sg_run "$job/job.json"
is "$SG_RC" 0 "exec through /proc/self/root: the job runs"
unlike "$(cat "$job/shipgate-out/trace/probe.jsonl")" "\"path\":\"$hostbin\"" "and the trace records no exec of the host file the link names"
like "$(cat "$job/shipgate-out/trace/probe.jsonl")" '"event":"exec".*"path":"/proc/self/root/usr/bin/true"' \
	"while a program run through /proc/self/root is still traced, by the path it was given"

# an exec by a thread other than the main one: the kernel gives it the process's pid (its
# thread id is gone after the exec): the line names the process, and the new program's
# exit is matched to it (the thread's id, read after the reply, was -1 in 8 of 30 runs,
# else the thread's id, and the program's exit was never recorded)
bad=
for i in 1 2 3 4 5 6 7 8; do
	sg_exec --workspace "$work" --trace "$work/t14.jsonl" -- ./probe thread_exec=from-a-thread
	shape=$(tq "$work/t14.jsonl" '"ok" if [(e["pid"], e["ppid"]) for e in ev if e["event"] == "exec"][1:] == [(e["pid"], 2) for e in ev if e["event"] == "exit" and e["path"] == "/bin/echo"] and len([e for e in ev if e["event"] == "exit"]) == 2 and all(e["pid"] > 0 for e in ev if "pid" in e) else [(e["event"], e.get("pid"), e.get("ppid")) for e in ev]')
	[ "$shape" = '"ok"' ] || [ "$shape" = ok ] || bad="$bad $i:$shape"
done
is "${bad:-none}" none "an exec by a second thread: the process's pid, its parent, and the new program's exit (8 runs)"

# exit_group from a thread other than the main one (Go; Rust's process::exit in a thread)
# ends the process: its exit line is the program's, with the code
sg_exec --workspace "$work" --trace "$work/t15.jsonl" -- ./probe thread_exit=7
is "$(tq "$work/t15.jsonl" '[(e["event"], e["code"]) for e in ev if e["event"] == "exit" and e["path"] != "./probe"]')" \
	'[["exit", 7]]' "exit_group from a second thread: the program's exit line, code 7"

# a program that ran cannot pass for a failed exec by putting the old image's AT_RANDOM
# bytes back at their address (the kernel's auxiliary vector is asked when they match)
sg_exec --workspace "$work" --trace "$work/t16.jsonl" -- ./probe forge_failed
is "$(tq "$work/t16.jsonl" '[e["event"] for e in ev if e["event"] in ("exec", "exec_failed", "exit") and e.get("path") == "/workspace/probe"]')" \
	'["exec", "exit"]' "a program forging the old image's bytes is still recorded as started, and its exit"

done_testing
