#!/usr/bin/env python3
"""serve_client.py: a small client of `shipgate serve` (docs/serve.md), for the tests
and for people.

    serve_client.py SOCKET REQUEST_JSON...     send each request, print each reply line
    serve_client.py SOCKET --run REQUEST_JSON  submit, follow the events to job_end, print
                                               them, then the verdict reply; exit with
                                               the job's exit code
    serve_client.py SOCKET --raw FILE          send the file's bytes as they are, then
                                               print every line until the daemon is quiet
"""
import json
import socket
import sys
import time


class Client:
    def __init__(self, path, timeout=600):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, obj):
        data = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("the daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self):
        """The next line that is a reply (events of followed jobs are set aside)."""
        while True:
            msg = self.line()
            if "ok" in msg:
                return msg
            self.pending_events.append(msg)

    pending_events = []

    def request(self, obj):
        self.send(obj)
        return self.reply()

    def follow(self, job_id):
        """Events of a job until job_end, replayed from the start."""
        r = self.request({"op": "events", "id": job_id})
        if not r["ok"]:
            raise RuntimeError(r)
        evs = []
        while True:
            msg = self.line()
            if msg.get("id") != job_id or "event" not in msg:
                continue
            evs.append(msg)
            if msg["event"] == "job_end":
                return evs


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    c = Client(argv[1])
    if argv[2] == "--run":
        req = json.loads(argv[3])
        req["op"] = "submit"
        r = c.request(req)
        print(json.dumps(r), flush=True)
        if not r["ok"]:
            return 2
        evs = c.follow(r["id"])
        for e in evs:
            print(json.dumps(e), flush=True)
        v = c.request({"op": "verdict", "id": r["id"]})
        print(json.dumps(v), flush=True)
        return evs[-1].get("exit_code", 3)
    if argv[2] == "--raw":
        c.s.sendall(open(argv[3], "rb").read())
        c.s.settimeout(2)
        try:
            while True:
                print(json.dumps(c.line()), flush=True)
        except (socket.timeout, EOFError):
            return 0
    for a in argv[2:]:
        print(json.dumps(c.request(json.loads(a))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
