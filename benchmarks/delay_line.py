"""A delay line: a TCP proxy on 127.0.0.1 that adds a round trip without limiting bandwidth.

    python benchmarks/delay_line.py TARGET_PORT RTT_MS   -> prints the port it listens on

Every byte is held for half the round trip in each direction, in order: each direction
has a queue of (due time, bytes), filled as bytes arrive and drained as they fall due, so
a connection behaves like one across a network with that round trip and no bandwidth
limit. :class:`DelayLine` runs it in a thread of the calling process, for the benchmarks
and for tests that need a connection they can cut (:meth:`DelayLine.cut`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time


class DelayLine:
    """A proxy from a port of 127.0.0.1 to ``127.0.0.1:target_port``, ``rtt`` seconds away.

    Args:
        target_port: the server's port.
        rtt: the round trip it adds, in seconds (half each way); 0 forwards at once.
        port: the port to listen on (0: any free one; see :attr:`port`).
    """

    def __init__(self, target_port: int, rtt: float, port: int = 0) -> None:
        self.target_port, self.rtt = target_port, rtt
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> DelayLine:
        """Listen (in a thread of its own) and return self; :attr:`port` is the port."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        try:
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        finally:
            self._writers -= {client_w, server_w}
            for writer in (client_w, server_w):
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward ``reader`` to ``writer``, each chunk ``rtt / 2`` after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def receive() -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(1 << 20):
                    queue.put_nowait((time.monotonic() + self.rtt / 2, data))
            queue.put_nowait((time.monotonic() + self.rtt / 2, b""))

        receiving = asyncio.ensure_future(receive())
        try:
            while True:
                due, data = await queue.get()
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:  # a side went away: so does the other
            writer.transport.abort()
        finally:
            receiving.cancel()

    def cut(self) -> None:
        """Stop listening and drop every connection at once, as a failed network would."""

        async def cut() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(cut(), self._loop).result(10)

    def close(self) -> None:
        """Cut everything, end the connections' tasks and stop the thread."""
        self.cut()

        async def settle() -> None:  # cut connections end their tasks within rtt / 2
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            if tasks:
                await asyncio.wait(tasks, timeout=self.rtt + 1)

        asyncio.run_coroutine_threadsafe(settle(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> DelayLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    line = DelayLine(int(argv[0]), float(argv[1]) / 1000).start()
    print(line.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    line.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
