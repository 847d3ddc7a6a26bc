"""The benchmarks' delay line: it adds its round trip and passes every byte intact."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from delay_line import DelayLine  # noqa: E402


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo server on 127.0.0.1."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def round_trip(port: int, data: bytes) -> tuple[bytes, float]:
    """Send ``data`` through ``port`` and read it all back; returns it and the seconds."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        sender = threading.Thread(target=conn.sendall, args=(data,))
        sender.start()
        back = bytearray()
        while len(back) < len(data):
            chunk = conn.recv(1 << 20)
            assert chunk, "connection closed early"
            back += chunk
        sender.join()
        return bytes(back), time.perf_counter() - start


def test_it_adds_the_round_trip_and_keeps_every_byte(echo_port: int) -> None:
    with DelayLine(echo_port, 0.1) as line:
        small, took = round_trip(line.port, b"ping")
        assert small == b"ping"
        assert 0.1 <= took < 0.3
        data = os.urandom(8 << 20)  # no bandwidth limit: 8 MiB does not take 8 round trips
        back, took = round_trip(line.port, data)
        assert back == data
        assert 0.1 <= took < 0.6


def test_cut_drops_the_connections(echo_port: int) -> None:
    with DelayLine(echo_port, 0) as line, socket.create_connection(("127.0.0.1", line.port)) as c:
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        line.cut()
        c.settimeout(5)
        try:
            ended = c.recv(1) == b""
        except ConnectionError:
            ended = True
        assert ended
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", line.port), timeout=5)
