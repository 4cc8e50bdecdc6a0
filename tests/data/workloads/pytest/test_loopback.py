"""A pytest fixture for the test policy: plain assertions, a parametrized case, and a
test that serves on loopback and talks to itself, as a test suite that starts the
service it tests does (listen/accept: allowed by test, denied by build)."""
import socket
import threading

import pytest


def add(a, b):
    return a + b


@pytest.mark.parametrize("a,b,want", [(1, 2, 3), (2, 2, 4), (-1, 1, 0)])
def test_add(a, b, want):
    assert add(a, b) == want


def test_loopback_echo():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.sendall(conn.recv(64).upper())

    t = threading.Thread(target=serve)
    t.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"ping")
        assert c.recv(64) == b"PING"
    t.join(5)
    srv.close()
