#!/usr/bin/env python3
"""serve_test.py: `shipgate serve` end to end (run by tests/integration/test_serve.sh).

Needs root (to be the daemon that serves other uids) and setpriv (to be uid 65534).
1. two clients, root and uid 65534, submit jobs; each sees and controls only its own;
   65534's job runs as 65534, rootless, with its limits enforced (a delegated cgroup);
2. a third client sends garbage, a 100 MB line, a job file it cannot read, and a job
   with a key it cannot read: each gets its error, the daemon goes on, the others'
   jobs complete; an inline job (job_json + workspace) runs;
3. cancel, and cancel_on_disconnect;
4. 50 jobs at once with --jobs 4: all verdicts verify, never more than 4 ran at once
   (from the events), and 4 did;
5. SIGTERM in the middle of jobs: the daemon drains and leaves no process, mount,
   cgroup, scratch directory or socket behind;
6. a client reads its own worker's memory and environment: nothing of the daemon's;
7. a client keeps a copy of its worker's event pipe: its job still ends, the drain
   still finishes, and its forged lines reach no one;
8. one uid opens hundreds of connections: capped per uid; a daemon out of descriptors
   refuses without spinning and serves the connections it has.
9. a client builds a cgroup tree deeper than PATH_MAX (and than the daemon walks) in its
   delegated cgroup, with a process at the bottom: the job still ends, its slot frees,
   the process is killed, the drain finishes in time;
10. the daemon's starting directory is not reachable through /proc/WORKER/cwd;
11. per-uid caps: queued jobs and bytes, ended jobs (one uid never evicts another's),
    round robin across uids;
12. events and the envelope a client forges through its worker's pipe are capped;
13. a process moved into a cgroup below the delegated one counts against the job's limits;
14. one connection asks for a 1 MiB replay 400 times, always leaving a few unread, then
    sends 400 at once without reading: the daemon's memory stays bounded (what it sent
    is dropped, and it reads no more requests while the replies pile up);
15. a job of 65534 with pids 4194300 (the kernel's limit is 4194304): its delegated
    cgroup's pids.max is clamped, the job passes;
16. a thread (not its process's leader) parked 260 levels deep, in a `tasks` file: the
    daemon finds it by its own cgroup path and kills its process;
17. --jobs 2 --max-running-per-uid 1: 65534 submits two jobs, one runs; root's runs at once;
18. --max-kept-bytes-per-uid below --max-events-bytes + --max-envelope-bytes is refused.
Prints TAP.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SHIPGATE = os.environ["SHIPGATE"]
SRC = os.environ.get("SHIPGATE_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CLIENT = os.path.join(SRC, "tests/tools/serve_client.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
NOBODY = 65534
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import Client  # noqa: E402

n = 0
failed = 0


def ok(cond, what, detail=None):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, what), flush=True)
    if not cond and detail is not None:
        for line in str(detail).splitlines()[:15]:
            print("#   " + line[:300], flush=True)
    return cond


AS_NOBODY = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]


def as_nobody(args, **kw):
    return subprocess.run(AS_NOBODY + args, capture_output=True, text=True, **kw)


def spawn_nobody(args):
    """Start args as uid 65534, its output on pipes (the caller reads and reaps it)."""
    return subprocess.Popen(AS_NOBODY + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def nobody_requests(sock, *reqs):
    r = as_nobody([PY, CLIENT, sock] + [json.dumps(q) for q in reqs], timeout=120)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()], r


def nobody_run(sock, req):
    r = as_nobody([PY, CLIENT, sock, "--run", json.dumps(req)], timeout=600)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return lines, r


def copy_demo(dst, owner=None):
    shutil.copytree(os.path.join(SRC, "examples/demo"), dst, ignore=shutil.ignore_patterns("shipgate-out"))
    if owner is not None:
        for root, dirs, files in os.walk(dst):
            os.chown(root, owner, owner)
            for f in files:
                os.chown(os.path.join(root, f), owner, owner)


def keygen(dst, owner=None):
    subprocess.run([SHIPGATE, "keygen", dst], check=True, capture_output=True)
    if owner is not None:
        for p in [dst] + glob.glob(dst + "/*"):
            os.chown(p, owner, owner)
    return dst + "/shipgate.key", dst + "/shipgate.pub"


class Daemon:
    def __init__(self, work, jobs, grace=30, name=None, args=(), env=None, nofile=None, cwd=None):
        name = name or str(jobs)
        self.sock = os.path.join(work, "serve-%s.sock" % name)
        self.log = open(os.path.join(work, "serve-%s.log" % name), "w")

        def limit_fds():
            if nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.p = subprocess.Popen([SHIPGATE, "serve", "--socket", self.sock, "--jobs", str(jobs), "--grace", str(grace)] +
                                  list(args), stderr=self.log, stdout=self.log, env=env, preexec_fn=limit_fds, cwd=cwd)
        for _ in range(100):
            if os.path.exists(self.sock):
                try:
                    Client(self.sock).request({"op": "ping"})
                    return
                except OSError:
                    pass
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.flush()
        raise RuntimeError("the daemon did not come up: " + open(self.log.name).read()[-500:])

    def client(self):
        return Client(self.sock)

    def stop(self, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return None


def verify(envelope_text, pub, work, name):
    path = os.path.join(work, name + ".dsse.json")
    with open(path, "w") as f:
        f.write(envelope_text)
    r = subprocess.run([SHIPGATE, "verify", path, "--pub", pub], capture_output=True, text=True)
    return r.returncode == 0, r.stderr


def statement_of(envelope_text):
    import base64
    return json.loads(base64.b64decode(json.loads(envelope_text)["payload"]))


def cgroup_leftovers(pid):
    return glob.glob("/sys/fs/cgroup/*/shipgate-serve-%d-*" % pid) + \
        glob.glob("/sys/fs/cgroup/*/*/*/shipgate-serve-%d-*" % pid) + \
        glob.glob("/sys/fs/cgroup/shipgate-serve-%d-*" % pid)


def max_concurrency(all_events):
    """From the events: job_started .. verdict_written (or job_end) intervals."""
    marks = []
    for evs in all_events:
        start = next((e["time"] for e in evs if e["event"] == "job_started"), None)
        end = next((e["time"] for e in evs if e["event"] in ("verdict_written", "error")), None)
        if start and end:
            marks.append((start, 1))
            marks.append((end, -1))
    marks.sort(key=lambda m: (m[0], m[1]))  # at the same ms an end comes first
    cur = best = 0
    for _, d in marks:
        cur += d
        best = max(best, cur)
    return best


def main():
    work = tempfile.mkdtemp(prefix="test-serve.", dir=os.environ.get("TMPDIR", "/tmp"))
    os.chmod(work, 0o755)
    os.environ["HOME"] = os.path.join(work, "home")
    os.makedirs(os.environ["HOME"])
    os.environ.pop("XDG_STATE_HOME", None)
    daemons = []
    try:
        run_tests(work, daemons)
    finally:
        for d in daemons:
            d.stop(5)
        for pid in holders:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["rm", "-rf", work])
    print("1..%d" % n)
    return 1 if failed else 0


def run_tests(work, daemons):
    root_key, root_pub = keygen(os.path.join(work, "keys-root"))
    nb_keys = os.path.join(work, "keys-nobody")
    nb_key, nb_pub = keygen(nb_keys, NOBODY)
    copy_demo(os.path.join(work, "root-a"))
    copy_demo(os.path.join(work, "root-b"))
    nb_home = os.path.join(work, "nb")
    os.makedirs(nb_home)
    os.chown(nb_home, NOBODY, NOBODY)
    copy_demo(os.path.join(nb_home, "a"), NOBODY)
    copy_demo(os.path.join(nb_home, "b"), NOBODY)
    secret = os.path.join(work, "secret")
    copy_demo(secret)
    os.chmod(secret, 0o700)

    only = os.environ.get("SERVE_TEST_SECTIONS")  # e.g. "14,15": just those (for development)
    if only:
        slow = os.path.join(work, "slow")
        os.makedirs(os.path.join(slow, "ws"))
        nb_slow = os.path.join(nb_home, "slow")
        os.makedirs(os.path.join(nb_slow, "ws"))
        for dst in (slow, nb_slow):
            with open(os.path.join(dst, "job.json"), "w") as f:
                json.dump(slow_inline("slow"), f)
        for p in (nb_slow, nb_slow + "/ws", nb_slow + "/job.json"):
            os.chown(p, NOBODY, NOBODY)
        ctx = {"root_key": root_key, "nb_key": nb_key, "nb_home": nb_home, "root_slow": os.path.join(slow, "job.json"),
               "slow_ws": os.path.join(slow, "ws"), "nb_slow": os.path.join(nb_slow, "job.json")}
        for name, fn in SECTIONS:
            if name.split(".")[0] in only.split(","):
                section(name, fn, work, daemons, ctx)
        return

    h = subprocess.run([SHIPGATE, "serve", "--help"], capture_output=True, text=True)
    usage, _, rest = h.stdout.partition("\n\n")
    import re
    opts = sorted(set(re.findall(r"^  (?:-\w, )?(--[a-z-]+)", rest, re.M)) - {"--help", "--quiet"})
    ok(h.returncode == 0 and len(opts) >= 9 and all(o in usage for o in opts),
       "serve --help: the usage line names every option (%d)" % len(opts), [o for o in opts if o not in usage])

    d = Daemon(work, 2)
    daemons.append(d)

    # ---- 1. two uids -------------------------------------------------------------
    rc = d.client()
    r1 = rc.request({"op": "submit", "job": os.path.join(work, "root-a/job.json"), "key": root_key})
    r2 = rc.request({"op": "submit", "job": os.path.join(work, "root-b/job.json"), "key": root_key})
    ok(r1["ok"] and r2["ok"], "root submits two jobs", [r1, r2])
    nb_lines, nb_proc = nobody_run(d.sock, {"job": os.path.join(nb_home, "a/job.json"), "key": nb_key})
    ok(nb_proc.returncode == 0 and nb_lines and nb_lines[0]["ok"], "uid 65534 submits a job and it passes",
       nb_proc.stdout + nb_proc.stderr)
    nb_id = nb_lines[0]["id"] if nb_lines and nb_lines[0].get("ok") else "job-none"
    nb_verdict = nb_lines[-1] if nb_lines else {}
    ev_root = [rc.follow(r1["id"]), rc.follow(r2["id"])]
    ok(all(e[-1]["event"] == "job_end" and e[-1]["state"] == "done" and e[-1]["result"] == "PASSED" for e in ev_root),
       "root's two jobs pass", [e[-1] for e in ev_root])
    st = statement_of(nb_verdict.get("envelope", "{}")) if nb_verdict.get("envelope") else {}
    pred = st.get("predicate", {})
    ok(pred.get("executor", {}).get("mode") == "rootless" and (pred.get("enforced") or {}).get("identity") == "rootless:%d" % NOBODY,
       "65534's job ran as 65534, rootless", json.dumps(pred.get("executor")) + json.dumps((pred.get("enforced") or {}).get("identity")))
    cg = (pred.get("enforced") or {}).get("cgroup") or {}
    ok(cg.get("memory_kb") == 512 * 1024 and cg.get("pids") == 128,
       "65534's job had its memory and pids limits enforced (a cgroup delegated by the daemon)", json.dumps(cg))
    v_ok, v_err = verify(nb_verdict.get("envelope", ""), nb_pub, work, "nb")
    ok(v_ok, "65534's verdict verifies with 65534's key", v_err)
    outdir = os.path.join(nb_home, "a/shipgate-out")
    ok(os.path.isdir(outdir) and os.stat(outdir).st_uid == NOBODY and os.stat(outdir + "/verdict.dsse.json").st_uid == NOBODY,
       "65534's out dir and verdict belong to 65534")

    mine, _ = nobody_requests(d.sock, {"op": "status"})
    ids = [j["id"] for j in mine[0].get("jobs", [])] if mine else []
    ok(ids == [nb_id], "65534's status lists only its own job", mine)
    st_root = rc.request({"op": "status"})
    ok(sorted(j["id"] for j in st_root["jobs"]) == sorted([r1["id"], r2["id"]]) and all(j["uid"] == 0 for j in st_root["jobs"]),
       "root's status lists only root's jobs", st_root)
    replies, _ = nobody_requests(d.sock, {"op": "status", "id": r1["id"]}, {"op": "verdict", "id": r1["id"]},
                                 {"op": "events", "id": r1["id"]}, {"op": "cancel", "id": r1["id"]})
    ok(len(replies) == 4 and all(not r["ok"] and r["code"] == "no_such_job" for r in replies),
       "65534 can neither see, follow, fetch nor cancel root's job", replies)
    for op in ("status", "verdict", "events", "cancel"):
        r = rc.request({"op": op, "id": nb_id})
        if not ok(not r["ok"] and r["code"] == "no_such_job", "root's client cannot %s 65534's job either" % op, r):
            break
    v = rc.request({"op": "verdict", "id": r1["id"]})
    v_ok, v_err = verify(v.get("envelope", ""), root_pub, work, "root-a")
    ok(v["ok"] and v_ok and v["result"] == "PASSED", "root fetches its verdict and it verifies", v_err)

    # ---- 2. a hostile client -----------------------------------------------------------
    other = Daemon.client(d)
    other.send(b"this is not json\n")
    r = other.reply()
    ok(not r["ok"] and r["code"] == "bad_json", "garbage gets an error", r)
    other.send(b'{"op": 42}\n')
    r = other.reply()
    ok(not r["ok"] and r["code"] == "bad_request", "an op that is not a string gets an error", r)
    other.send(b'{"op": "submit", "job": "relative.json"}\n')
    r = other.reply()
    ok(not r["ok"] and "absolute" in r["error"], "a relative job path gets an error", r)
    other.send(b'{"op": "submit", "job": "/x.json", "jbo": 1}\n')
    r = other.reply()
    ok(not r["ok"] and "jbo" in r["error"], "an unknown key gets an error naming it", r)
    # exactly one JSON object per line: nothing after it, no NUL, no key twice
    for raw, what in ((b'{"op": "ping"} {"op": "ping"}\n', "two objects on one line"),
                      (b'{"op": "ping"}\x00garbage\n', "an object, a NUL and garbage"),
                      (b'{"op": "ping"} x\n', "bytes after the object"),
                      (b'{"op": "ping", "op": "submit"}\n', "a duplicate key"),
                      (b'{"op": "submit", "job_json": {"version": 1, "version": 2}, "workspace": "/"}\n',
                       "a duplicate key inside job_json")):
        other.send(raw)
        r = other.reply()
        ok(not r["ok"] and r["code"] == "bad_json", "%s gets an error (bad_json)" % what, r)
    other.send(b'{"op": "ping"} \t\r\n')
    r = other.reply()
    ok(r["ok"] and r["op"] == "ping", "trailing blanks are no error, and no request got a second reply", r)
    # an escaped NUL would cut a string where cJSON stores it; invalid UTF-8 would be
    # echoed back raw (an invalid reply): both are refused before parsing
    for raw, what in ((b'{"op":"status","id":"job-8\\u0000xyz"}\n', "an id with an escaped NUL"),
                      (b'{"op":"submit","job":"/x/quick.json\\u0000/../evil.json"}\n', "a path with an escaped NUL"),
                      (b'{"op":"ping","x":"\xff\xfe"}\n', "invalid UTF-8 in a string"),
                      (b'{"op":"fr\xc3ob"}\n', "invalid UTF-8 in the op")):
        other.send(raw)
        try:
            r = other.reply()
        except ValueError as e:  # the reply itself not valid JSON (UTF-8)
            r = {"ok": None, "error": str(e)}
        ok(r["ok"] is False and r["code"] == "bad_json", "%s gets bad_json, in a valid reply" % what, r)
    r = other.request({"op": "ping", "op2": 1})
    ok(not r["ok"] and r["code"] == "bad_request" and "op2" in r["error"], "ping with an unknown key gets bad_request naming it", r)
    # the line cap (1 MiB, its newline not counted) is exact
    head, tail = b'{"op": "ping", "pad": "', b'"}'
    for size, want in (((1 << 20), "bad_request"), ((1 << 20) + 1, "too_long")):
        other.s.sendall(head + b"x" * (size - len(head) - len(tail)) + tail + b"\n")
        r = other.reply()
        ok(not r["ok"] and r["code"] == want, "a line of %d bytes gets %s" % (size, want), r)
    # a 100 MB line, sent while the others' jobs run
    busy = rc.request({"op": "submit", "job": os.path.join(work, "root-a/job.json"), "key": root_key})
    big = b'{"op": "ping", "pad": "' + b"x" * (100 << 20) + b'"}\n'
    t0 = time.time()
    other.s.sendall(big)
    r = other.reply()
    ok(not r["ok"] and r["code"] == "too_long", "a 100 MB line gets one error (too_long) and is skipped", r)
    r = other.request({"op": "ping"})
    ok(r["ok"], "the same connection is served after it (%.1f s to send 100 MB)" % (time.time() - t0), r)
    busy_end = rc.follow(busy["id"])[-1]
    ok(busy_end["state"] == "done" and busy_end["result"] == "PASSED", "a job running meanwhile completes", busy_end)
    # files the client cannot read
    lines, p = nobody_run(d.sock, {"job": os.path.join(secret, "job.json"), "key": nb_key})
    end = [l for l in lines if l.get("event") == "job_end"]
    err = [l for l in lines if l.get("event") == "error"]
    ok(end and end[0]["state"] == "failed" and err and "Permission denied" in err[0]["message"],
       "65534 naming a job file it cannot read: the job fails with the kernel's refusal", lines)
    ok(not os.path.exists(os.path.join(secret, "shipgate-out")), "nothing was written beside that job file")
    lines, p = nobody_run(d.sock, {"job": os.path.join(nb_home, "b/job.json"), "key": root_key})
    err = [l for l in lines if l.get("event") == "error"]
    ok(err and "Permission denied" in err[0]["message"] and "key" in err[0]["message"],
       "65534 naming root's private key: refused with the kernel's EACCES", lines)
    r = other.request({"op": "ping"})
    ok(r["ok"], "the daemon still serves after all that", r)
    # an inline job with a workspace
    inline = {"version": 1, "name": "inline", "workspace": "calc", "limits": {"memory_mb": 256, "pids": 64},
              "steps": [{"name": "build", "run": ["make", "-j2"]}, {"name": "run", "run": ["./calc", "6*7"]}]}
    lines, p = nobody_run(d.sock, {"job_json": inline, "workspace": os.path.join(nb_home, "b"), "key": nb_key})
    end = [l for l in lines if l.get("event") == "job_end"]
    ok(end and end[0]["result"] == "PASSED" and os.path.exists(os.path.join(nb_home, "b/shipgate-out/verdict.dsse.json")),
       "an inline job (job_json + workspace) runs as its client", lines[-3:] if lines else p.stderr)

    # ---- 3. cancel -----------------------------------------------------------------------
    slow = os.path.join(work, "slow")
    os.makedirs(os.path.join(slow, "ws"))
    with open(os.path.join(slow, "job.json"), "w") as f:
        json.dump({"version": 1, "name": "slow", "workspace": "ws", "network": "none",
                   "limits": {"memory_mb": 128, "pids": 32, "timeout_s": 600},
                   "steps": [{"name": "sleep", "run": ["sleep", "299.5"]}]}, f)
    s1 = rc.request({"op": "submit", "job": os.path.join(slow, "job.json"), "key": root_key,
                     "out": os.path.join(work, "slow-out-1")})
    evs = []
    c2 = d.client()
    c2.send({"op": "events", "id": s1["id"]})
    c2.reply()
    while not any(e.get("event") == "step_started" for e in evs):
        evs.append(c2.line())
    t0 = time.time()
    r = rc.request({"op": "cancel", "id": s1["id"]})
    while evs[-1].get("event") != "job_end":
        evs.append(c2.line())
    end = evs[-1]
    ok(r["ok"] and end["state"] == "cancelled" and end["result"] == "ERROR" and time.time() - t0 < 5,
       "cancel stops a running job within seconds; its verdict says ERROR", end)
    vw = [e for e in evs if e.get("event") == "verdict_written"]
    ok(vw and vw[0]["interrupted"], "the cancelled job's verdict says interrupted", vw)
    # cancel_on_disconnect
    c3 = d.client()
    s2 = c3.request({"op": "submit", "job": os.path.join(slow, "job.json"), "key": root_key,
                     "out": os.path.join(work, "slow-out-2"), "cancel_on_disconnect": True})
    s3 = rc.request({"op": "submit", "job": os.path.join(slow, "job.json"), "key": root_key,
                     "out": os.path.join(work, "slow-out-3")})
    time.sleep(1.0)
    c3.s.close()
    end2 = rc.follow(s2["id"])[-1]
    ok(end2["state"] == "cancelled", "a client that asked for it has its job cancelled when it disconnects", end2)
    st3 = rc.request({"op": "status", "id": s3["id"]})
    ok(st3["job"]["state"] in ("running", "queued"), "another job of the same uid goes on", st3)
    rc.request({"op": "cancel", "id": s3["id"]})
    rc.follow(s3["id"])
    daemon_pid = d.p.pid
    code = d.stop()
    ok(code == 0 and not cgroup_leftovers(daemon_pid) and not os.path.exists(d.sock) and
       not os.path.exists("/var/tmp/shipgate-serve-%d" % daemon_pid),
       "the first daemon drains and exits 0, leaving no cgroup, scratch or socket",
       [code, cgroup_leftovers(daemon_pid)])

    # ---- 4. fifty jobs, four at a time ---------------------------------------------------
    small = os.path.join(work, "small")
    jobs = []
    for i in range(50):
        jd = os.path.join(small, "j%02d" % i)
        os.makedirs(os.path.join(jd, "ws"))
        fail = i % 5 == 4
        with open(os.path.join(jd, "ws/main.c"), "w") as f:
            f.write("int main(void) { return %d; }\n" % (1 if fail else 0))
        with open(os.path.join(jd, "job.json"), "w") as f:
            json.dump({"version": 1, "name": "small-%02d" % i, "workspace": "ws", "network": "none",
                       "limits": {"memory_mb": 256, "pids": 64, "timeout_s": 60},
                       "steps": [{"name": "build", "run": ["cc", "-o", "m", "main.c"]},
                                 {"name": "check", "run": ["./m"]}]}, f)
        jobs.append((jd, fail))
    d4 = Daemon(work, 4)
    daemons.append(d4)
    c = d4.client()
    t0 = time.time()
    for jd, _ in jobs:
        c.send({"op": "submit", "job": os.path.join(jd, "job.json"), "key": root_key})
    subs = [c.reply() for _ in jobs]
    ok(all(s["ok"] for s in subs), "50 submissions accepted at once", [s for s in subs if not s["ok"]][:3])
    all_events = [c.follow(s["id"]) for s in subs]
    elapsed = time.time() - t0
    ends = [e[-1] for e in all_events]
    want = ["FAILED" if fail else "PASSED" for _, fail in jobs]
    got = [e.get("result") for e in ends]
    ok(got == want, "all 50 ended with the right result (40 PASSED, 10 FAILED) in %.1f s" % elapsed, list(zip(got, want))[:10])
    bad = []
    for s, (jd, _) in zip(subs, jobs):
        v = c.request({"op": "verdict", "id": s["id"]})
        good, why = verify(v.get("envelope", ""), root_pub, work, s["id"])
        if not good or open(os.path.join(jd, "shipgate-out/verdict.dsse.json")).read() != v.get("envelope"):
            bad.append((s["id"], why))
    ok(not bad, "all 50 verdicts verify, and each is the file in its out dir", bad[:3])
    conc = max_concurrency(all_events)
    ok(conc <= 4, "never more than 4 jobs ran at once (from the events: %d)" % conc)
    ok(conc == 4, "and 4 did run at once")
    dec = subprocess.run([SHIPGATE, "decide", os.path.join(jobs[0][0], "shipgate-out/verdict.dsse.json"), "--pub", root_pub,
                          "--no-ledger", "--quiet"], capture_output=True, text=True)
    ok(dec.returncode == 0, "decide ships a passing one", dec.stderr)

    # ---- 5. SIGTERM in the middle of jobs ------------------------------------------------
    d5 = Daemon(work, 2, grace=1)
    daemons.append(d5)
    c = d5.client()
    a = c.request({"op": "submit", "job": os.path.join(slow, "job.json"), "key": root_key, "out": os.path.join(work, "term-1")})
    nb_slow = os.path.join(nb_home, "slow")
    os.makedirs(os.path.join(nb_slow, "ws"))
    shutil.copy(os.path.join(slow, "job.json"), nb_slow)
    for p in (nb_slow, nb_slow + "/ws", nb_slow + "/job.json"):
        os.chown(p, NOBODY, NOBODY)
    nb_c = spawn_nobody([PY, CLIENT, d5.sock, "--run", json.dumps({"job": nb_slow + "/job.json", "key": nb_key})])
    c.send({"op": "events", "id": a["id"]})
    c.reply()
    evs = []
    while not any(e.get("event") == "step_started" for e in evs):
        evs.append(c.line())
    time.sleep(1.0)
    pid5 = d5.p.pid
    during = cgroup_leftovers(pid5)
    sleeping = subprocess.run(["pgrep", "-f", "^sleep 299.5$"], capture_output=True, text=True).stdout.split()
    t0 = time.time()
    code = d5.stop(60)
    took = time.time() - t0
    nb_out, _ = nb_c.communicate(timeout=60)
    while evs[-1].get("event") != "job_end":
        try:
            evs.append(c.line())
        except EOFError:
            break
    ok(code == 0 and took < 15, "SIGTERM: the daemon drains and exits 0 in %.1f s (grace 1 s)" % took, code)
    ok(len(sleeping) >= 2 and len(during) >= 1, "(the jobs were running: %d sandboxes, %d delegated cgroups)" % (len(sleeping), len(during)))
    # a sandbox killed in the drain may still be a zombie its init is reaping as the
    # daemon exits: gone within a moment, or it is a leak
    deadline = time.time() + 3
    left = [p for p in sleeping if os.path.exists("/proc/" + p)]
    while left and time.time() < deadline:
        time.sleep(0.05)
        left = [p for p in sleeping if os.path.exists("/proc/" + p)]
    ok(not left, "no process of the jobs is left (within 3 s of the daemon's exit)", left)
    ok(not cgroup_leftovers(pid5), "no cgroup of the daemon is left", cgroup_leftovers(pid5))
    d5.log.flush()
    workers = [l.split("worker ")[1].strip() for l in open(d5.log.name) if "started, worker" in l]
    sg_left = [p for w in workers for p in glob.glob("/sys/fs/cgroup/*/shipgate/sg-%s-*" % w) +
               glob.glob("/sys/fs/cgroup/*/*/*/shipgate/sg-%s-*" % w) + glob.glob("/sys/fs/cgroup/*/shipgate/sg-%s-*" % w)]
    ok(workers and not sg_left, "no step cgroup of the %d workers is left" % len(workers), sg_left)
    mounts = [l for l in open("/proc/self/mountinfo") if "shipgate-serve-%d" % pid5 in l or "shipgate-scratch" in l]
    ok(not mounts, "no mount is left", mounts)
    ok(not os.path.exists("/var/tmp/shipgate-serve-%d" % pid5), "no scratch directory is left")
    ok(not os.path.exists(d5.sock), "the socket is removed")
    ends = [e for e in evs if e.get("event") == "job_end"]
    ok(ends and ends[0]["state"] == "cancelled" and ends[0].get("result") == "ERROR",
       "the running job was stopped with an ERROR verdict and its follower told", evs[-2:])
    ok("job_end" in nb_out and '"cancelled"' in nb_out, "65534's follower was told too", nb_out[-400:])

    ctx = {"root_key": root_key, "nb_key": nb_key, "nb_home": nb_home, "root_slow": os.path.join(slow, "job.json"),
           "slow_ws": os.path.join(slow, "ws"), "nb_slow": os.path.join(nb_slow, "job.json")}
    section("6. worker memory", test_worker_memory, work, daemons, ctx)
    section("7. held pipe", test_held_pipe, work, daemons, ctx)
    section("8. connections", test_connections, work, daemons, ctx)
    section("9. deep cgroups", test_deep_cgroups, work, daemons, ctx)
    section("10. cwd", test_cwd, work, daemons, ctx)
    section("11. per-uid caps", test_caps, work, daemons, ctx)
    section("12. bytes kept per job", test_kept_bytes, work, daemons, ctx)
    section("13. escape into the delegated cgroup", test_escape, work, daemons, ctx)
    section("14. output held per connection", test_output_held, work, daemons, ctx)
    section("15. pids near the kernel's limit", test_pids_max, work, daemons, ctx)
    section("16. a thread parked deeper than the walks", test_deep_thread, work, daemons, ctx)
    section("17. running jobs per uid", test_running_per_uid, work, daemons, ctx)
    section("18. contradictory caps", test_contradictory_caps, work, daemons, ctx)


# ---- hostile clients: small programs run as uid 65534 ------------------------------------

# peek.py PID MARKER...: what of the markers can a client read in its own worker's memory
# and environment (/proc/PID/mem, /proc/PID/environ)? Prints {"read": bytes, "found": [...]}.
PEEK = r"""
import json, sys
pid = int(sys.argv[1])
markers = [m.encode() for m in sys.argv[2:]]
out = {"read": 0, "found": [], "errors": []}
def look(data):
    out["read"] += len(data)
    out["found"] += [m.decode() for m in markers if m in data and m.decode() not in out["found"]]
try:
    look(open("/proc/%d/environ" % pid, "rb").read())
except OSError as e:
    out["errors"].append("environ: %s" % e)
try:
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for line in open("/proc/%d/maps" % pid):
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if "r" not in f[1] or hi - lo > (256 << 20):  # not readable, or a sanitizer's shadow
                continue
            try:
                mem.seek(lo)
                look(mem.read(hi - lo))
            except OSError:
                pass
except OSError as e:
    out["errors"].append("mem: %s" % e)
print(json.dumps(out))
"""

# What hold.py, deep.py and forge.py share: a connection to the daemon (connect, send,
# line), a job submitted and followed until its step starts, and a copy of its worker's
# event pipe taken with pidfd_getfd (the worker: the daemon's child of our uid).
JOB_CLIENT = r"""
import ctypes, glob, json, os, socket, sys, time
def connect(path, timeout):
    global s, f
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    f = s.makefile("rb")
def send(o):
    s.sendall((json.dumps(o) + "\n").encode())
def line():
    l = f.readline()
    if not l:
        raise EOFError("the daemon closed the connection")
    return json.loads(l)
def submit_until_step(req):
    send(req)
    jid = line()["id"]
    send({"op": "events", "id": jid})
    line()
    seen = []
    while not any(e.get("event") == "step_started" for e in seen):
        seen.append(line())
    return jid, seen
def steal_events_fd(dpid):
    worker = None
    for p in os.listdir("/proc"):
        try:
            st = open("/proc/%s/status" % p).read()
        except OSError:
            continue
        fields = dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
        if int(fields["PPid"]) == dpid and int(fields["Uid"].split()[0]) == os.getuid():
            worker = int(p)
    pfd = os.pidfd_open(worker)
    fd = ctypes.CDLL(None, use_errno=True).syscall(438, pfd, 3, 0)  # pidfd_getfd
    if fd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_getfd")
    return worker, fd
"""

# hold.py SOCKET REQUEST OTHER_ID DAEMON_PID MODE: submit REQUEST, wait for its step to
# start, take a copy of the worker's event pipe (pidfd_getfd), hand it to a process of
# its own that keeps it open (the holder), write two forged lines into it (one without
# an id, one with OTHER_ID, another job's). MODE "cancel": cancel the job and time its
# job_end. MODE "hold": print, then follow the job to its job_end (or EOF).
HOLD = JOB_CLIENT + r"""
sock, req, other_id, dpid, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
connect(sock, 40)
jid, seen = submit_until_step(req)
worker, fd = steal_events_fd(dpid)
holder = os.fork()
if holder == 0:
    os.setsid()
    os.closerange(0, fd)
    os.closerange(fd + 1, 1024)
    time.sleep(600)
    os._exit(0)
os.write(fd, b'{"event":"step_finished","seq":990,"job":"forged-noid"}\n')
os.write(fd, b'{"event":"step_finished","id":"%s","seq":991,"job":"forged-other"}\n' % other_id.encode())
os.close(fd)
out = {"holder": holder, "worker": worker, "id": jid}
t0 = time.time()
if mode == "cancel":
    send({"op": "cancel", "id": jid})
else:
    print(json.dumps(out), flush=True)
try:
    while seen[-1].get("event") != "job_end":
        seen.append(line())
except (EOFError, OSError) as e:
    out["error"] = str(e)
out["end_s"] = time.time() - t0
out["end"] = seen[-1]
out["forged_seen"] = [e for e in seen if str(e.get("job", "")).startswith("forged")]
print(json.dumps(out), flush=True)
"""

# conns.py SOCKET N HOLD_S: open N connections and hold them; prints how many connected
# and how many the daemon refused (an error line, or closed at once), with the codes.
CONNS = r"""
import json, resource, socket, sys, time
sock, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns = []
for i in range(n):
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    until = time.time() + 5
    while True:
        try:
            c.connect(sock)
            conns.append(c)
            break
        except BlockingIOError:  # the daemon's backlog is full: wait for it to accept
            if time.time() > until:
                c.close()
                break
            time.sleep(0.01)
        except OSError:
            c.close()
            break
time.sleep(1.0)
refused, codes = 0, {}
for c in conns:
    c.setblocking(False)
    try:
        data = c.recv(4096)
    except BlockingIOError:
        continue
    except OSError:
        data = b""
    refused += 1
    if data:
        code = json.loads(data.split(b"\n")[0]).get("code")
        codes[code] = codes.get(code, 0) + 1
print(json.dumps({"connected": len(conns), "refused": refused, "codes": codes}), flush=True)
time.sleep(hold)
"""

# deep.py SOCKET REQUEST DAEMON_PID: submit REQUEST, wait for its step to start, then in
# the job's delegated cgroups build a tree deeper than PATH_MAX (20 levels of 250-char
# names, by descriptor) and move a process of its own to the bottom of it. Prints
# {"id", "sleeper", "dirs"}, then follows the job to its job_end.
DEEP = JOB_CLIENT + r"""
sock, req, dpid = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
levels, width = int(sys.argv[4]), int(sys.argv[5])
connect(sock, 60)
jid, seen = submit_until_step(req)
dirs = [d for d in glob.glob("/sys/fs/cgroup/*/shipgate-serve-%d-%s" % (dpid, jid)) if not os.path.islink(d)]
thread = len(sys.argv) > 6 and sys.argv[6] == "thread"  # park a thread (not its leader)
r, w = os.pipe()
tr, tw = os.pipe()
sleeper = os.fork()
if sleeper == 0:
    os.setsid()
    if thread:
        import threading
        threading.Thread(target=lambda: (os.write(tw, b"%d" % threading.get_native_id()), time.sleep(600)),
                         daemon=True).start()
    os.read(r, 1)
    time.sleep(600)
    os._exit(0)
tid = int(os.read(tr, 32)) if thread else sleeper
depth = 0
for d in dirs:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(levels):
        name = (("%04d" % i) * 125)[:width]
        os.mkdir(name, dir_fd=fd)
        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        depth += 1
    pf = os.open("tasks" if thread else "cgroup.procs", os.O_WRONLY, dir_fd=fd)
    os.write(pf, b"%d" % tid)
    os.close(pf)
    os.close(fd)
os.write(w, b"x")
print(json.dumps({"id": jid, "sleeper": sleeper, "tid": tid, "dirs": dirs, "levels": depth}), flush=True)
try:
    while seen[-1].get("event") != "job_end":
        seen.append(line())
except (EOFError, OSError) as e:
    pass
print(json.dumps(seen[-1]), flush=True)
"""

# forge.py SOCKET REQUEST DAEMON_PID EVENTS_BYTES ENVELOPE_BYTES: submit REQUEST, wait
# for its step, take a copy of the worker's event pipe and write EVENTS_BYTES of events
# of the job (with its id), then a result line whose envelope is ENVELOPE_BYTES long.
# Prints {"id", "worker"}.
FORGE = JOB_CLIENT + r"""
sock, req, dpid, ev_bytes, env_bytes = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
connect(sock, 60)
jid, seen = submit_until_step(req)
worker, fd = steal_events_fd(dpid)
os.write(fd, b'{"event":"step_output","id":"%s","seq":4999,"pad":"\xff\xfe bad UTF-8"}\n' % jid.encode())
ev = (json.dumps({"event": "step_output", "id": jid, "seq": 5000, "pad": "e" * 1000}) + "\n").encode()
for _ in range(ev_bytes // len(ev) + 1):
    os.write(fd, ev)
res = (json.dumps({"worker": "result", "result": "PASSED", "exit_code": 0, "envelope": "v" * env_bytes}) + "\n").encode()
os.write(fd, res)
os.close(fd)
print(json.dumps({"id": jid, "worker": worker}), flush=True)
"""

# escape.py DELEGATED_PIDS_DIR N: move this process into a cgroup of its own making below
# a job's delegated pids cgroup, where no limit of the job's step cgroups holds, and
# start N sleeping children there. Prints {"moved", "started"}.
ESCAPE = r"""
import json, os, signal, sys, time
deleg, n = sys.argv[1], int(sys.argv[2])
os.mkdir(os.path.join(deleg, "escape"))
with open(os.path.join(deleg, "escape/cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
moved = str(os.getpid()) in open(os.path.join(deleg, "escape/cgroup.procs")).read().split()
kids = []
for i in range(n):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
print(json.dumps({"moved": moved, "started": len(kids)}), flush=True)
"""

holders = []


def helper(work, name, text):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
    return path


def children_of(pid, uid=None):
    out = []
    for p in os.listdir("/proc"):
        try:
            st = open("/proc/%s/status" % p).read()
        except OSError:
            continue
        fields = dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
        if int(fields["PPid"]) == pid and (uid is None or int(fields["Uid"].split()[0]) == uid):
            out.append(int(p))
    return out


def nobody_slow_job(d, ctx, out):
    """65534 runs its slow job through daemon d (a client that waits for the job's end);
    returns that client and the pid of the job's worker once the worker has a child,
    or None after 20 s."""
    nb = spawn_nobody([PY, CLIENT, d.sock, "--run", json.dumps({"job": ctx["nb_slow"], "key": ctx["nb_key"],
                                                                 "out": os.path.join(ctx["nb_home"], out)})])
    for _ in range(200):
        ws = children_of(d.p.pid, NOBODY)
        if ws and children_of(ws[0]):
            return nb, ws[0]
        time.sleep(0.1)
    return nb, None


def nobody_holding(sock, reqs):
    """65534 sends reqs on one connection, prints each reply as a line, and keeps the
    connection open (10 minutes) until killed."""
    return spawn_nobody([PY, "-c", "import sys, json, time\nsys.path.insert(0, %r)\nfrom serve_client import Client\n"
                         "c = Client(%r)\nfor r in json.loads(sys.argv[1]):\n    print(json.dumps(c.request(r)), flush=True)\n"
                         "time.sleep(600)\n" % (os.path.dirname(CLIENT), sock), json.dumps(reqs)])


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def section(name, fn, *args):
    import traceback
    try:
        fn(*args)
    except Exception:
        ok(False, "%s: the section ran to its end" % name, traceback.format_exc())


def slow_inline(name, env=None):
    job = {"version": 1, "name": name, "workspace": ".", "network": "none",
           "limits": {"memory_mb": 128, "pids": 32, "timeout_s": 600},
           "steps": [{"name": "sleep", "run": ["sleep", "299.5"]}]}
    if env:
        job["env"] = env
    return job


def test_worker_memory(work, daemons, ctx):
    """6. A client reads its own worker's memory and environment (it may: the worker is
    the client, and dumpable); it must find nothing of the daemon's there: not the
    daemon's environment, not another user's job held by the daemon."""
    secret = "daemon-secret-%d" % os.getpid()
    marker = "root-inline-marker-%d" % os.getpid()
    d = Daemon(work, 2, grace=1, name="peek", env=dict(os.environ, SG_TEST_DAEMON_SECRET=secret))
    daemons.append(d)
    rc = d.client()
    r = rc.request({"op": "submit", "job_json": slow_inline("rootsecret", {"ROOT_MARKER": marker}),
                    "workspace": ctx["slow_ws"], "key": ctx["root_key"], "out": os.path.join(work, "peek-root")})
    ok(r["ok"], "root submits an inline job holding a marker", r)
    nb, worker = nobody_slow_job(d, ctx, "peek-out")
    time.sleep(0.5)
    ok(worker, "65534's worker is running", worker)
    res, p = {}, None
    if worker:
        p = as_nobody([PY, helper(work, "peek.py", PEEK), str(worker), secret, marker], timeout=120)
        try:
            res = json.loads(p.stdout)
        except ValueError:
            res = {}
    ok(res.get("read", 0) > 1 << 20, "65534 can read its worker's memory (%d bytes)" % res.get("read", 0),
       p and (p.stdout + p.stderr))
    ok(res and not res["found"], "and finds neither the daemon's environment nor root's job in it", res)
    d.stop()
    nb.communicate(timeout=60)


def test_held_pipe(work, daemons, ctx):
    """7. A client takes a copy of its worker's event pipe and keeps it open: the job
    still ends when its worker is gone, the drain still finishes in time, and what the
    client writes into the pipe reaches no one, not even itself, unless it is an event
    of that very job."""
    d = Daemon(work, 2, grace=1, name="hold")
    daemons.append(d)
    rc = d.client()
    root_job = rc.request({"op": "submit", "job": ctx["root_slow"], "key": ctx["root_key"],
                           "out": os.path.join(work, "hold-root")})
    hold = helper(work, "hold.py", HOLD)
    req = {"op": "submit", "job": ctx["nb_slow"], "key": ctx["nb_key"], "out": os.path.join(ctx["nb_home"], "hold-1")}
    p = as_nobody([PY, hold, d.sock, json.dumps(req), root_job["id"], str(d.p.pid), "cancel"], timeout=120)
    try:
        res = json.loads(p.stdout.splitlines()[-1])
    except (ValueError, IndexError):
        res = {}
    if res.get("holder"):
        holders.append(res["holder"])
    ok(res.get("end", {}).get("event") == "job_end" and res["end"]["state"] == "cancelled" and res["end_s"] < 10,
       "a job whose pipe another process holds open ends when its worker does (%.1f s after cancel)" % res.get("end_s", -1),
       p.stdout + p.stderr)
    ok(res and not res.get("forged_seen"), "lines forged into the pipe without the job's id reach no follower", res)
    req["out"] = os.path.join(ctx["nb_home"], "hold-2")
    h = spawn_nobody([PY, hold, d.sock, json.dumps(req), root_job["id"], str(d.p.pid), "hold"])
    first = h.stdout.readline()
    try:
        holders.append(json.loads(first)["holder"])
    except (ValueError, KeyError):
        pass
    ok(first, "a second job's pipe is held", h.stderr.read() if not first else None)
    t0 = time.time()
    code = d.stop(60)
    took = time.time() - t0
    out, _ = h.communicate(timeout=60)
    ok(code == 0 and took < 1 + 15, "SIGTERM drains in %.1f s (grace 1 s) although a client holds a worker's pipe" % took,
       code)
    ok('"job_end"' in out, "and the holder's own follower got its job_end", out[-300:])


def test_connections(work, daemons, ctx):
    """8. One uid opens hundreds of connections: past its cap (default 64) each is
    refused with an error; when the daemon runs out of descriptors it refuses new ones
    without spinning and goes on serving the connections it has."""
    conns = helper(work, "conns.py", CONNS)
    d = Daemon(work, 1, grace=1, name="conns", nofile=256)
    daemons.append(d)
    h = spawn_nobody([PY, conns, d.sock, "200", "3"])
    first = h.stdout.readline()
    res = json.loads(first) if first.strip() else {}
    ok(res.get("connected") == 200 and res["connected"] - res["refused"] == 64 and
       res["codes"] == {"too_many_connections": 136},
       "uid 65534 opening 200 connections: 64 are served, 136 refused (too_many_connections)", [res, h.stderr.read() if not first else ""])
    try:
        r = Client(d.sock, timeout=5).request({"op": "ping"})
    except (OSError, EOFError) as e:
        r = {"error": str(e)}
    ok(r.get("ok"), "meanwhile root connects and is served", r)
    h.communicate(timeout=30)
    d.stop()

    d = Daemon(work, 1, grace=1, name="emfile", nofile=40)
    daemons.append(d)
    rc = d.client()
    h = spawn_nobody([PY, conns, d.sock, "60", "4"])
    first = h.stdout.readline()
    res = json.loads(first) if first.strip() else {}
    c0 = cpu_s(d.p.pid)
    time.sleep(2)
    cpu = cpu_s(d.p.pid) - c0
    ok(res.get("refused", 0) > 0 and set(res["codes"]) <= {"busy"},
       "a daemon out of descriptors refuses new connections (busy)", [res, h.stderr.read() if not first else ""])
    ok(cpu < 0.5, "and does not spin (%.2f s of CPU in 2 s)" % cpu)
    r = rc.request({"op": "ping"})
    ok(r["ok"], "a connection it had is still served", r)
    try:
        r = Client(d.sock, timeout=5).line()  # the refusal comes unasked
    except EOFError as e:
        r = {"code": "closed", "error": str(e)}
    except OSError as e:
        r = {"error": str(e)}
    ok(r.get("code") in ("busy", "closed"), "a new one is refused at once, not left waiting", r)
    h.communicate(timeout=30)
    r = {}
    for _ in range(50):
        try:
            r = Client(d.sock, timeout=5).request({"op": "ping"})
        except (OSError, EOFError) as e:
            r = {"error": str(e)}
        if r.get("ok"):
            break
        time.sleep(0.1)
    ok(r.get("ok"), "once they are closed, new connections are served again", r)
    d.stop()



def rmdir_deep(top):
    """Remove a cgroup tree of any depth, by descriptor (the test's own clean-up)."""
    def down(fd):
        for name in os.listdir(fd):
            sub = os.path.join("/proc/self/fd/%d" % fd, name)
            if os.path.isdir(sub) and not os.path.islink(sub):
                nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                down(nfd)
                os.close(nfd)
                os.rmdir(name, dir_fd=fd)
    if os.path.isdir(top):
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        down(fd)
        os.close(fd)
        os.rmdir(top)


def test_deep_cgroups(work, daemons, ctx):
    """9. A client builds a cgroup tree deeper than PATH_MAX in its job's delegated
    cgroups and parks a process at its bottom: cancel still ends the job within
    seconds and frees its slot, the daemon kills the process and removes the tree (by
    descriptor), and a drain still finishes in time."""
    d = Daemon(work, 1, grace=1, name="deep")
    daemons.append(d)
    deep = helper(work, "deep.py", DEEP)
    req = {"op": "submit", "job": ctx["nb_slow"], "key": ctx["nb_key"], "out": os.path.join(ctx["nb_home"], "deep-1")}
    h = spawn_nobody([PY, deep, d.sock, json.dumps(req), str(d.p.pid), "20", "250"])
    first = h.stdout.readline()
    try:
        info = json.loads(first)
    except ValueError:
        info = {}
    if info.get("sleeper"):
        holders.append(info["sleeper"])
    if not ok(info.get("levels", 0) >= 20 and info.get("dirs"),
              "65534 built a cgroup tree deeper than PATH_MAX in its delegated cgroups", [first, h.stderr.read() if not first else ""]):
        h.kill()
        return
    nb = Client(d.sock)  # root's connection, but the cancel must come from 65534
    t0 = time.time()
    r, _ = nobody_requests(d.sock, {"op": "cancel", "id": info["id"]})
    out, _ = h.communicate(timeout=60)
    took = time.time() - t0
    end = json.loads(out.splitlines()[-1]) if out.strip() else {}
    ok(end.get("event") == "job_end" and end.get("state") == "cancelled" and took < 10,
       "cancel ends the job in %.1f s although its cgroups cannot be removed at once" % took, [r, end])
    q = nb.request({"op": "submit", "job": ctx["root_slow"], "key": ctx["root_key"], "out": os.path.join(work, "deep-root")})
    st = nb.request({"op": "status", "id": q.get("id", "")})
    ok(q.get("ok") and q.get("state") == "running" and st.get("job", {}).get("state") == "running",
       "its slot is free: the next job runs (--jobs 1)", [q, st])
    gone = False
    for _ in range(150):
        gone = not os.path.exists("/proc/%d" % info["sleeper"]) and not any(os.path.exists(p) for p in info["dirs"])
        if gone:
            break
        time.sleep(0.1)
    ok(gone, "the process parked at the bottom is killed and the deep tree removed",
       [os.path.exists("/proc/%d" % info["sleeper"])] + [p for p in info["dirs"] if os.path.exists(p)])
    t0 = time.time()
    code = d.stop(60)
    took = time.time() - t0
    ok(code == 0 and took < 1 + 20, "and the drain finishes in %.1f s (grace 1 s)" % took, code)
    ok(not cgroup_leftovers(d.p.pid), "leaving no cgroup", cgroup_leftovers(d.p.pid))

    # deeper than the daemon walks (200 levels): the process parked at the bottom is
    # still found (by its cgroup path) and killed; the drain still ends in time
    d = Daemon(work, 1, grace=1, name="deeper")
    daemons.append(d)
    req["out"] = os.path.join(ctx["nb_home"], "deep-2")
    h = spawn_nobody([PY, deep, d.sock, json.dumps(req), str(d.p.pid), "260", "8"])
    first = h.stdout.readline()
    try:
        info = json.loads(first)
    except ValueError:
        info = {}
    if info.get("sleeper"):
        holders.append(info["sleeper"])
    ok(info.get("levels", 0) >= 260, "65534 built a tree 260 levels deep and parked a process at its bottom",
       [first, h.stderr.read() if not first else ""])
    if info.get("id"):
        nobody_requests(d.sock, {"op": "cancel", "id": info["id"]})
        out, _ = h.communicate(timeout=60)
        dead = False
        for _ in range(150):
            dead = not os.path.exists("/proc/%d" % info["sleeper"])
            if dead:
                break
            time.sleep(0.1)
        ok(dead, "the parked process is killed")
    t0 = time.time()
    code = d.stop(60)
    took = time.time() - t0
    ok(code == 0 and took < 1 + 20, "the drain finishes in %.1f s (grace 1 s)" % took, code)
    d.log.flush()
    log = open(d.log.name).read()
    ok("left behind" in log and not os.path.exists("/var/tmp/shipgate-serve-%d" % d.p.pid),
       "says what it left behind, and removes the job's scratch anyway", log[-600:])
    for top in cgroup_leftovers(d.p.pid):
        rmdir_deep(top)

def test_cwd(work, daemons, ctx):
    """10. The daemon started in a directory behind one closed to other users (0700): its
    client's worker, dumpable once it is the client, must not be a way into it through
    /proc/WORKER/cwd; the daemon's own relative --socket still works."""
    closed = os.path.join(work, "closed")
    inner = os.path.join(closed, "inner")  # open itself, but behind a 0700 parent
    os.makedirs(inner)
    os.chmod(closed, 0o700)
    os.chmod(inner, 0o755)
    with open(os.path.join(inner, "f"), "w") as f:
        f.write("root's file behind a closed directory\n")
    os.chmod(os.path.join(inner, "f"), 0o644)
    d = Daemon(work, 2, grace=1, name="cwd", cwd=inner)
    daemons.append(d)
    rel = Daemon(work, 1, grace=1, name="rel2", cwd=work, args=["--socket", "serve-rel2.sock"])
    daemons.append(rel)
    r = Client(os.path.join(work, "serve-rel2.sock")).request({"op": "ping"})
    ok(r.get("ok"), "a relative --socket is where it was asked for, although the daemon works in /", r)
    code = rel.stop(30)
    ok(code == 0 and not os.path.exists(os.path.join(work, "serve-rel2.sock")), "and is removed at the drain", code)
    nb, worker = nobody_slow_job(d, ctx, "cwd-out")
    ok(worker, "65534's worker is running", worker)
    if worker:
        p = as_nobody([PY, "-c", "import sys\ntry:\n print(open('/proc/%d/cwd/f').read(), end='')\nexcept OSError as e:\n print('refused', e)" % worker],
                      timeout=60)
        ok("closed directory" not in p.stdout, "65534 cannot read a file of the daemon's cwd through /proc/WORKER/cwd",
           p.stdout + p.stderr)
        ok(os.readlink("/proc/%d/cwd" % worker) == "/" and os.readlink("/proc/%d/cwd" % d.p.pid) == "/",
           "the worker and the daemon work in /")
    d.stop()
    nb.communicate(timeout=60)

def test_caps(work, daemons, ctx):
    """11. One uid can starve no other: its queue is capped (in jobs and in inline
    bytes), the slots go round robin across uids, and the ended jobs it piles up make
    the daemon forget only its own."""
    d = Daemon(work, 1, grace=1, name="caps", args=["--max-queued-per-uid", "3", "--max-ended-per-uid", "3",
                                                   "--max-queued-bytes-per-uid", "100000"])
    daemons.append(d)
    rc = d.client()
    gone = rc.request({"op": "submit", "job": "/nonexistent/root.json", "key": ctx["root_key"]})
    end = rc.follow(gone["id"])[-1]
    ok(end.get("state") == "failed", "root's job (a missing file) has ended", end)
    nb = []
    for i in range(8):  # each to its end: the queue cap is not what this is about
        lines, _ = nobody_run(d.sock, {"job": "/nonexistent/nobody-%d.json" % i})
        nb.append(lines[0] if lines else {})
    ok(len(nb) == 8 and all(r.get("ok") for r in nb), "65534 submits 8 jobs one after another", nb)
    st = rc.request({"op": "status", "id": gone["id"]})
    ok(st["ok"] and st["job"]["state"] == "failed", "65534's pile of ended jobs did not make the daemon forget root's", st)
    mine, _ = nobody_requests(d.sock, {"op": "status"})
    ids = [j["id"] for j in mine[0].get("jobs", [])] if mine else []
    ok(ids == [r["id"] for r in nb[-3:]], "65534 keeps its own last 3 (--max-ended-per-uid 3)", ids)

    busy = rc.request({"op": "submit", "job": ctx["root_slow"], "key": ctx["root_key"], "out": os.path.join(work, "caps-1")})
    pad = "p" * 60000
    q = [dict(op="submit", job_json=slow_inline("q0", {"PAD": pad}), workspace=ctx["nb_home"], key=ctx["nb_key"]),
         dict(op="submit", job_json=slow_inline("q1", {"PAD": pad}), workspace=ctx["nb_home"], key=ctx["nb_key"])] + \
        [dict(op="submit", job_json=slow_inline("q%d" % i), workspace=ctx["nb_home"], key=ctx["nb_key"]) for i in (2, 3, 4)]
    nbc = nobody_holding(d.sock, q)
    got = [json.loads(nbc.stdout.readline() or "{}") for _ in q]
    codes = [r.get("code") if not r.get("ok") else r.get("state") for r in got]
    ok(codes == ["queued", "too_many_jobs", "queued", "queued", "too_many_jobs"],
       "65534's queue is capped: 100000 bytes of inline jobs, then 3 jobs (too_many_jobs)", got)
    r2 = rc.request({"op": "submit", "job": ctx["root_slow"], "key": ctx["root_key"], "out": os.path.join(work, "caps-2")})
    ok(r2.get("state") == "queued" and r2.get("queued_ahead") == 1,
       "a root job submitted after them waits for one of 65534's, not three (round robin)", r2)
    rc.request({"op": "cancel", "id": busy["id"]})
    rc.follow(busy["id"])
    first = got[0].get("id")
    states = {}
    for _ in range(100):
        mine, _ = nobody_requests(d.sock, {"op": "status"})
        states = {j["id"]: j["state"] for j in mine[0]["jobs"]} if mine else {}
        if states.get(first) == "running":
            break
        time.sleep(0.1)
    ok(states.get(first) == "running", "65534's first queued job runs next", states)
    nobody_requests(d.sock, {"op": "cancel", "id": first})
    st = {}
    for _ in range(100):
        st = rc.request({"op": "status", "id": r2["id"]})
        if st["job"]["state"] == "running":
            break
        time.sleep(0.1)
    mine, _ = nobody_requests(d.sock, {"op": "status"})
    queued = [j["id"] for j in mine[0]["jobs"] if j["state"] == "queued"] if mine else []
    ok(st["job"]["state"] == "running" and len(queued) == 2, "then root's, while 65534's other two wait", [st, queued])
    nbc.kill()
    nbc.communicate()
    d.stop()


def test_kept_bytes(work, daemons, ctx):
    """12. Through its own worker's pipe a client writes 4 MiB of events and a 15 MiB
    envelope: the daemon keeps 1 MiB of events (and says they were cut), and the job is
    an ERROR, result too large, its envelope not kept."""
    d = Daemon(work, 2, grace=1, name="kept")
    daemons.append(d)
    forge = helper(work, "forge.py", FORGE)
    req = {"op": "submit", "job": ctx["nb_slow"], "key": ctx["nb_key"], "out": os.path.join(ctx["nb_home"], "kept-1")}
    p = as_nobody([PY, forge, d.sock, json.dumps(req), str(d.p.pid), str(4 << 20), str(15 << 20)], timeout=120)
    try:
        info = json.loads(p.stdout.splitlines()[-1])
    except (ValueError, IndexError):
        info = {}
    ok(info.get("id"), "65534 wrote 4 MiB of events and a 15 MiB envelope into its worker's pipe", p.stdout + p.stderr)
    if not info.get("id"):
        return
    time.sleep(1.0)
    script = ("import sys, json\nsys.path.insert(0, %r)\nfrom serve_client import Client\nc = Client(%r)\n"
              "r = c.request({'op': 'events', 'id': %r, 'follow': False})\nc.send({'op': 'ping'})\nn = 0\n"
              "while True:\n    l = c.line()\n    if 'ok' in l: break\n    n += len(json.dumps(l)) + 1\n"
              "print(json.dumps({'reply': r, 'bytes': n}))\n") % (os.path.dirname(CLIENT), d.sock, info["id"])
    r = as_nobody([PY, "-c", script], timeout=60)
    try:
        ev = json.loads(r.stdout)
    except ValueError:
        ev = {}
    ok(ev.get("reply", {}).get("truncated") is True and 0 < ev.get("bytes", 0) <= (1 << 20) + 4096,
       "the daemon kept %d bytes of its events, and says they were cut; each line valid JSON, a forged one with "
       "invalid UTF-8 included" % ev.get("bytes", 0), [ev.get("reply"), r.stderr[-600:]])
    nobody_requests(d.sock, {"op": "cancel", "id": info["id"]})
    st = {}
    for _ in range(100):
        got, _ = nobody_requests(d.sock, {"op": "status", "id": info["id"]}, {"op": "verdict", "id": info["id"]})
        st = got[0]["job"] if got and got[0].get("ok") else {}
        if st.get("finished"):
            break
        time.sleep(0.2)
    ok(st.get("result") == "ERROR" and "too large" in st.get("error", "") and got[1].get("code") == "no_verdict",
       "the job is an ERROR (result too large) and its envelope is not kept", [st, got[1:] if got else None])
    script = ("import sys, json\nsys.path.insert(0, %r)\nfrom serve_client import Client\nc = Client(%r)\n"
              "c.request({'op': 'events', 'id': %r, 'follow': False})\nc.send({'op': 'ping'})\nlast = None\n"
              "while True:\n    l = c.line()\n    if 'ok' in l: break\n    last = l\n"
              "print(json.dumps(last))\n") % (os.path.dirname(CLIENT), d.sock, info["id"])
    r = as_nobody([PY, "-c", script], timeout=60)
    try:
        last = json.loads(r.stdout) or {}
    except ValueError:
        last = {}
    ok(last.get("event") == "job_end", "a replay of its cut events still ends with its job_end", [last, r.stderr[-300:]])
    d.stop()

def test_escape(work, daemons, ctx):
    """13. A client moves a process of its own into a cgroup it makes below its job's
    delegated cgroup (cgroup v1 lets it: it owns what it makes there): what it starts
    there counts against the job's own pids limit (32, and 16 for the worker), which
    the delegated cgroup carries, as it does the job's memory limit."""
    d = Daemon(work, 1, grace=1, name="escape")
    daemons.append(d)
    nb, worker = nobody_slow_job(d, ctx, "escape-out")
    deleg = cgroup_leftovers(d.p.pid) if worker else []
    pids_dir = [p for p in deleg if os.path.exists(p + "/pids.max")]
    mem_dir = [p for p in deleg if os.path.exists(p + "/memory.limit_in_bytes")]
    if not ok(pids_dir and mem_dir, "65534's job runs in delegated pids and memory cgroups", deleg):
        nb.kill()
        return
    pmax = open(pids_dir[0] + "/pids.max").read().strip()
    mmax = int(open(mem_dir[0] + "/memory.limit_in_bytes").read())
    ok(pmax == "48" and mmax == (128 + 64) << 20,
       "the delegated cgroups carry the job's limits (pids 32+16, memory 128+64 MiB)", [pmax, mmax])
    w = as_nobody([PY, "-c", "import sys\ntry:\n import os; open(sys.argv[1], 'w').write(str(os.getpid()))\n print('written')\n"
                        "except OSError as e:\n print(e.errno)", pids_dir[0] + "/cgroup.procs"], timeout=60)
    ok(w.stdout.strip() == "13", "65534 cannot move a process into the delegated cgroup itself (EACCES)", w.stdout + w.stderr)
    p = as_nobody([PY, helper(work, "escape.py", ESCAPE), pids_dir[0], "100"], timeout=60)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = {}
    ok(res.get("moved") and res.get("started", 100) < 48,
       "a process moved below it starts %s of 100 children: the job's pids limit holds there" % res.get("started"),
       p.stdout + p.stderr)
    d.stop()
    nb.communicate(timeout=60)


REPLAYS = r"""
import json, socket, sys, threading, time
sock, job, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
def hwm():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmHWM:"):
            return int(l.split()[1]) << 10
def rss():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) << 10
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rb")
req = (json.dumps({"op": "events", "id": job, "follow": False}) + "\n").encode()
done = 0
def read_one():
    global done
    l = f.readline()
    if not l:
        raise EOFError("the daemon closed the connection after %d replays" % done)
    if b'"job_end"' in l or b'"ok":false' in l:
        done += 1
out = {"before": hwm()}
for i in range(400):
    s.sendall(req)
    while done < i - 8:
        read_one()
while done < 400:
    read_one()
out["kept_few_unread"] = hwm()
# all at once, nothing read for 3 s
t = threading.Thread(target=lambda: s.sendall(req * 400))
t.start()
time.sleep(3)
out["unread_rss"] = rss()
while done < 800:
    read_one()
t.join()
out["all_at_once"] = hwm()
out["replays"] = done
print(json.dumps(out), flush=True)
"""


def test_output_held(work, daemons, ctx):
    """14. What a connection holds, sent or not, is bounded: the sent part of its
    output is dropped, its requests wait while its unread replies are over 1 MiB."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
    d = Daemon(work, 2, grace=1, name="held", env=env)
    daemons.append(d)
    job = {"version": 1, "name": "big-events", "workspace": ".", "network": "none",
           "limits": {"memory_mb": 128, "pids": 32, "timeout_s": 600},
           "steps": [{"name": "s%d" % i, "run": ["true", "A" * 24000]} for i in range(40)]}
    big = os.path.join(ctx["nb_home"], "big-events")
    os.makedirs(big, exist_ok=True)
    with open(os.path.join(big, "job.json"), "w") as f:
        json.dump(job, f)
    for path in (big, big + "/job.json"):
        os.chown(path, NOBODY, NOBODY)
    lines, p = nobody_run(d.sock, {"job": big + "/job.json", "key": ctx["nb_key"]})
    jid = lines[0].get("id") if lines else None
    ends = [l for l in lines if l.get("event") == "job_end"]
    if not ok(jid and ends, "65534 runs a job with about 1 MiB of events", (p.stdout + p.stderr)[-600:]):
        return
    r = as_nobody([PY, helper(work, "replays.py", REPLAYS), d.sock, jid, str(d.p.pid)], timeout=300)
    try:
        m = json.loads(r.stdout)
    except ValueError:
        m = {}
    grew = (m.get("kept_few_unread", 1 << 40) - m.get("before", 0)) >> 20
    ok(m.get("replays") == 800 and grew < 64,
       "400 replays of 1 MiB on one connection, a few always unread: the daemon grew %d MiB" % grew,
       [m, r.stderr[-600:]])
    unread = (m.get("unread_rss", 1 << 40) - m.get("before", 0)) >> 20
    ok(m.get("replays") == 800 and unread < 64,
       "400 more sent at once and left unread: the daemon holds %d MiB more, then answers them all" % unread,
       [m, r.stderr[-600:]])
    d.stop()


def test_pids_max(work, daemons, ctx):
    """15. pids 4194300 is a valid limit: the worker's margin on the delegated cgroup
    must not push pids.max past the kernel's PID_MAX_LIMIT (EINVAL: the job an ERROR)."""
    d = Daemon(work, 1, grace=1, name="pidsmax")
    daemons.append(d)
    job = {"version": 1, "name": "many-pids", "workspace": ".", "network": "none",
           "limits": {"memory_mb": 128, "pids": 4194300, "timeout_s": 600},
           "steps": [{"name": "true", "run": ["true"]}]}
    lines, p = nobody_run(d.sock, {"job_json": job, "workspace": ctx["nb_home"], "key": ctx["nb_key"]})
    end = [l for l in lines if l.get("event") == "job_end"]
    ok(end and end[0].get("result") == "PASSED", "65534's job with pids 4194300 passes", lines[-3:] or p.stderr)
    d.stop()


def test_deep_thread(work, daemons, ctx):
    """16. cgroup v1 takes a thread alone into a cgroup (its `tasks` file): a thread
    parked below the walks' depth, its leader elsewhere, is found by the thread's own
    /proc/PID/task/TID/cgroup and its process killed."""
    d = Daemon(work, 1, grace=1, name="deep-thread")
    daemons.append(d)
    req = {"op": "submit", "job": ctx["nb_slow"], "key": ctx["nb_key"], "out": os.path.join(ctx["nb_home"], "deep-3")}
    h = spawn_nobody([PY, helper(work, "deep.py", DEEP), d.sock, json.dumps(req), str(d.p.pid), "260", "8",
                      "thread"])
    first = h.stdout.readline()
    try:
        info = json.loads(first)
    except ValueError:
        info = {}
    if info.get("sleeper"):
        holders.append(info["sleeper"])
    if not ok(info.get("levels", 0) >= 260 and info.get("tid") != info.get("sleeper"),
              "65534 built a tree 260 levels deep and parked a thread (not its leader) at its bottom",
              [first, h.stderr.read() if not first else ""]):
        h.kill()
        d.stop()
        return
    nobody_requests(d.sock, {"op": "cancel", "id": info["id"]})
    h.communicate(timeout=60)
    dead = False
    for _ in range(150):
        dead = not os.path.exists("/proc/%d" % info["sleeper"])
        if dead:
            break
        time.sleep(0.1)
    ok(dead, "the parked thread's process is killed")
    d.stop(60)
    for top in cgroup_leftovers(d.p.pid):
        rmdir_deep(top)


def test_running_per_uid(work, daemons, ctx):
    """17. One uid cannot hold every slot: with --max-running-per-uid 1, 65534's second
    job waits although a slot is free, and root's job takes that slot at once."""
    d = Daemon(work, 2, grace=1, name="per-uid", args=["--max-running-per-uid", "1"])
    daemons.append(d)
    q = [{"op": "submit", "job": ctx["nb_slow"], "key": ctx["nb_key"], "out": os.path.join(ctx["nb_home"], "per-uid-%d" % i)}
         for i in range(2)]
    nbc = nobody_holding(d.sock, q)
    got = [json.loads(nbc.stdout.readline() or "{}") for _ in q]
    ok([r.get("state") for r in got] == ["running", "queued"],
       "65534 submits two jobs: one runs, the other waits although a slot is free", got)
    rc = d.client()
    r = rc.request({"op": "submit", "job": ctx["root_slow"], "key": ctx["root_key"], "out": os.path.join(work, "per-uid-root")})
    ok(r.get("state") == "running", "root's job starts at once (--jobs 2 --max-running-per-uid 1)", r)
    rc.request({"op": "cancel", "id": r.get("id", "")})
    nobody_requests(d.sock, *[{"op": "cancel", "id": g.get("id", "")} for g in got])
    nbc.kill()
    nbc.communicate()
    code = d.stop(60)
    bad = subprocess.run([SHIPGATE, "serve", "--socket", os.path.join(work, "x.sock"), "--max-running-per-uid", "0"],
                         capture_output=True, text=True)
    ok(code == 0 and bad.returncode == 2 and "--max-running-per-uid" in bad.stderr,
       "the daemon drains; --max-running-per-uid 0 is refused", [code, bad.returncode, bad.stderr])


def test_contradictory_caps(work, daemons, ctx):
    """18. A uid's kept bytes smaller than one job's events and verdict would make a
    verdict vanish right after its job_end: refused at start-up, naming both."""
    sock = os.path.join(work, "contradict.sock")
    p = subprocess.run([SHIPGATE, "serve", "--socket", sock, "--max-kept-bytes-per-uid", "1000000",
                        "--max-events-bytes", "1048576"], capture_output=True, text=True, timeout=10)
    ok(p.returncode == 2 and "--max-kept-bytes-per-uid" in p.stderr and "--max-events-bytes" in p.stderr
       and "--max-envelope-bytes" in p.stderr and not os.path.exists(sock),
       "--max-kept-bytes-per-uid 1000000 with 1 MiB of events and an 8 MiB verdict: refused (exit 2)",
       [p.returncode, p.stderr[-400:]])
    d = Daemon(work, 1, grace=1, name="fit", args=["--max-kept-bytes-per-uid", "65536", "--max-events-bytes", "0",
                                                   "--max-envelope-bytes", "65536"])
    daemons.append(d)
    ok(d.client().request({"op": "ping"}).get("ok") and d.stop() == 0, "caps that fit one job are taken")


def test_job_ceilings(work, daemons, ctx):
    """19. The daemon's ceilings on a job's limits (--max-job-memory-mb, --max-job-pids):
    a job asking for more, or for none, is refused with the option named; one within them
    runs; a non-root client's delegated cgroup holds the ceiling from the start, so no
    process the client moves below it escapes a job that asked for no limit."""
    d = Daemon(work, 1, grace=1, name="ceil", args=["--max-job-memory-mb", "256", "--max-job-pids", "64"])
    daemons.append(d)

    def job(mem, pids, run=("true",)):
        return {"version": 1, "name": "ceil", "workspace": ".", "network": "none",
                "limits": {"memory_mb": mem, "pids": pids, "timeout_s": 600},
                "steps": [{"name": "s", "run": list(run)}]}
    for mem, pids, what in ((0, 32, "memory_mb 0 (no limit)"), (512, 32, "memory_mb 512"),
                            (128, 0, "pids 0 (no limit)"), (128, 100, "pids 100")):
        lines, p = nobody_run(d.sock, {"job_json": job(mem, pids), "workspace": ctx["nb_home"], "key": ctx["nb_key"]})
        end = [l for l in lines if l.get("event") == "job_end"]
        opt = "--max-job-memory-mb" if "memory" in what else "--max-job-pids"
        ok(end and end[0].get("result") != "PASSED" and opt in json.dumps(lines),
           "a job asking for %s is refused, naming %s" % (what, opt), lines[-3:] or p.stderr)
    lines, p = nobody_run(d.sock, {"job_json": job(128, 32), "workspace": ctx["nb_home"], "key": ctx["nb_key"]})
    end = [l for l in lines if l.get("event") == "job_end"]
    ok(end and end[0].get("result") == "PASSED", "a job within the ceilings runs and passes", lines[-3:] or p.stderr)
    # root is held to them too: they are the daemon's policy
    c = d.client()
    r = c.request({"op": "submit", "job_json": job(0, 32), "workspace": ctx["nb_home"]})
    ended = {}
    if r.get("ok"):
        c.send({"op": "events", "id": r["id"], "follow": True})
        for _ in range(200):
            e = c.line()
            if e.get("event") == "job_end":
                ended = e
                break
    ok(ended and ended.get("result") != "PASSED" and "--max-job-memory-mb" in json.dumps(ended),
       "root's job asking for no memory limit is refused too", ended or r)
    d.stop()


SECTIONS = [("6. worker memory", test_worker_memory), ("7. held pipe", test_held_pipe),
            ("8. connections", test_connections), ("9. deep cgroups", test_deep_cgroups), ("10. cwd", test_cwd),
            ("11. per-uid caps", test_caps), ("12. bytes kept per job", test_kept_bytes),
            ("13. escape into the delegated cgroup", test_escape), ("14. output held per connection", test_output_held),
            ("15. pids near the kernel's limit", test_pids_max),
            ("16. a thread parked deeper than the walks", test_deep_thread),
            ("17. running jobs per uid", test_running_per_uid),
            ("18. contradictory caps", test_contradictory_caps),
            ("19. ceilings on a job's limits", test_job_ceilings)]


if __name__ == "__main__":
    sys.exit(main())
