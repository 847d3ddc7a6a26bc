"""Slow and abusive clients cannot hold the service: the gate reads each request whole
before a worker thread sees it (aft/server/gate.py), over real sockets."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.request
from collections.abc import Iterator

import pytest
from cheroot import makefile, server

from aft.instance import Instance
from aft.server import gate
from aft.server.service import Service


def serving(home, tls: bool) -> Iterator[Service]:
    with Instance(home) as instance:
        running = Service(instance, bind="127.0.0.1", port=0, tls=tls)
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(params=[True, False], ids=["https", "http"])
def service(aft_home, request) -> Iterator[Service]:
    yield from serving(aft_home, request.param)


@pytest.fixture
def http(aft_home) -> Iterator[Service]:
    yield from serving(aft_home, False)


@pytest.fixture
def https(aft_home) -> Iterator[Service]:
    yield from serving(aft_home, True)


def health(service: Service) -> float:
    """Seconds /v1/health took to answer (asked from 127.0.0.1)."""
    handlers = []
    if service.tls:
        context = ssl.create_default_context(cafile=str(service.instance.home / "tls-cert.pem"))
        context.check_hostname = False
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    started = time.monotonic()
    with opener.open(f"{service.url}/v1/health", timeout=10) as answer:
        assert answer.status == 200
    return time.monotonic() - started


def connect(service: Service, source: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", service.port))
    return sock


def test_two_hundred_slow_connections_do_not_hold_the_service(service):
    """Slow clients on four addresses: half a request head (HTTP), or a TLS connection
    that says nothing or half a hello; health answers at once throughout."""
    start = b"\x16\x03\x01" if service.tls else b"GET /v1/health HTTP/1.1\r\nHost: aft\r\n"
    slow = []
    try:
        for n in range(200):
            sock = connect(service, f"127.0.0.{2 + n % 4}")
            if n % 2:
                sock.sendall(start)  # and never the rest
            slow.append(sock)
        time.sleep(0.5)
        assert max(health(service) for _ in range(5)) < 1.0
        if not service.tls:
            for sock in slow[1::2]:
                sock.send(b"X-Slow: 1\r\n")  # a header line now and then holds nothing
        assert health(service) < 1.0
    finally:
        for sock in slow:
            sock.close()


def test_a_request_not_sent_whole_in_time_gets_408(http, monkeypatch):
    service = http
    monkeypatch.setattr(gate, "REQUEST_SECONDS", 1.0)
    sock = connect(service, "127.0.0.1")
    sock.settimeout(10)
    started = time.monotonic()
    for line in (b"GET /v1/health HTTP/1.1\r\n", b"Host: aft\r\n"):
        sock.sendall(line)
        time.sleep(0.4)
    answer = sock.recv(1024)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
    sock.close()


def test_a_silent_tls_client_is_dropped_after_the_deadline(https, monkeypatch):
    service = https
    monkeypatch.setattr(gate, "REQUEST_SECONDS", 1.0)
    sock = connect(service, "127.0.0.1")
    sock.settimeout(10)
    started = time.monotonic()
    assert sock.recv(1024) in (b"", gate._TIMED_OUT)  # closed: no handshake ever came
    assert time.monotonic() - started < 5
    sock.close()


def test_one_address_may_have_only_so_many_connections_waiting(service):
    held = [connect(service, "127.0.0.9") for _ in range(gate.WAITING_PER_ADDRESS)]
    try:
        time.sleep(0.3)
        extra = connect(service, "127.0.0.9")
        extra.settimeout(5)
        assert extra.recv(1024) == b""  # closed at once
        extra.close()
        assert health(service) < 1.0  # other addresses are served
    finally:
        for sock in held:
            sock.close()


def test_plain_http_on_the_https_port_is_told_so(https):
    service = https
    sock = connect(service, "127.0.0.1")
    sock.settimeout(5)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: aft\r\n\r\n")
    answer = sock.recv(1024)
    assert answer.startswith(b"HTTP/1.1 400") and b"use https://" in answer
    sock.close()


def test_a_head_over_the_cap_gets_431(http):
    service = http
    sock = connect(service, "127.0.0.1")
    sock.settimeout(5)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\n" + b"X-Big: " + b"x" * (gate.MAX_HEAD + 10))
    assert sock.recv(1024).startswith(b"HTTP/1.1 431")
    sock.close()


def read_answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer (head and Content-Length body) from a kept-alive socket."""
    answer = b""
    while True:
        head, found, body = answer.partition(b"\r\n\r\n")
        if found:
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if len(body) >= length:
                return answer
        chunk = sock.recv(65536)
        assert chunk, answer
        answer += chunk


def test_kept_alive_connections_wait_at_the_gate_not_in_a_thread(http):
    """Each client sends one request and keeps its connection: more idle connections
    than worker threads, and every one can still send a second request."""
    service = http
    held = []
    try:
        for _ in range(40):
            sock = connect(service, "127.0.0.3")
            sock.settimeout(5)
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: aft\r\n\r\n")
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
            held.append(sock)
        assert health(service) < 1.0
        for sock in held:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: aft\r\n\r\n")
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in held:
            sock.close()


def test_the_cheroot_names_the_gate_relies_on_exist():
    """The gate hands connections to cheroot through these; an upgrade that drops one
    fails here, naming it."""
    for owner, name in [
        (server.HTTPServer, "process_conn"),
        (server.HTTPServer, "put_conn"),
        (server.HTTPServer, "ssl_adapter"),
        (makefile.StreamReader, "has_data"),
        (makefile, "MakeFile"),
    ]:
        assert hasattr(owner, name), f"cheroot no longer has {owner.__name__}.{name}"
    connection = server.HTTPConnection.__init__.__code__.co_varnames
    assert connection[:4] == ("self", "server", "sock", "makefile"), connection
    for attribute in ("rfile", "remote_addr", "remote_port", "ssl_env"):
        assert attribute in server.HTTPConnection.__init__.__code__.co_names or hasattr(
            server.HTTPConnection, attribute
        ), f"cheroot's HTTPConnection no longer has {attribute}"
