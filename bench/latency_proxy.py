"""A simulated remote catalog: a TCP proxy on 127.0.0.1 holding every chunk it forwards for a fixed delay
in each direction (issue #16, bench/lake_remote.py).

A lake's catalog on another machine costs its round trips, not its bandwidth (catalog messages are small),
so the proxy models latency only: each chunk read from one side is written to the other `delay` seconds
after it arrived, in order, whatever else is in flight (a delay line, not a rate limit; no loss, no
jitter beyond the event loop's timer, ~0.1 ms here). It runs in a child process of its own (`LatencyProxy`)
so the ingest's Python work in the benchmark's process cannot hold its forwarding back.

It also counts **round trips**: on each connection, a client chunk arriving after the server last spoke
(or the connection's first) starts an exchange. libpq sends a query's messages in one write and waits for
the answer, so exchanges ≈ the queries the catalog answered, each paying one RTT.

`python -m bench.latency_proxy TARGET_PORT DELAY_MS` prints its port, then answers each line on stdin
with `exchanges connections client_bytes server_bytes`.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType


@dataclass
class Counts:
    exchanges: int = 0
    connections: int = 0
    client_bytes: int = 0
    server_bytes: int = 0


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float,
                   on_chunk: object) -> None:
    """Copy `reader` to `writer`, each chunk `delay` seconds after it arrived; EOF passed on likewise."""
    loop = asyncio.get_running_loop()
    line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await line.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            on_chunk(len(data))  # type: ignore[operator]
            line.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    line.put_nowait((loop.time() + delay, b""))
    try:
        await sender
    except ConnectionError:
        pass


async def serve(target_port: int, delay: float, counts: Counts, ready: asyncio.Future[int]) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        for w in (client_w, server_w):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        counts.connections += 1
        server_spoke = [True]   # the connection's first client chunk starts an exchange

        def from_client(n: int) -> None:
            counts.client_bytes += n
            if server_spoke[0]:
                counts.exchanges += 1
                server_spoke[0] = False

        def from_server(n: int) -> None:
            counts.server_bytes += n
            server_spoke[0] = True

        await asyncio.gather(_forward(client_r, server_w, delay, from_client),
                             _forward(server_r, client_w, delay, from_server), return_exceptions=True)
        for w in (client_w, server_w):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def main(target_port: int, delay_ms: float) -> None:
    counts = Counts()

    async def run() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(target_port, delay_ms / 1000, counts, ready))
        print(await ready, flush=True)
        await task

    def answer() -> None:   # a line on stdin → the counts so far (plain ints: read across threads)
        for _ in sys.stdin:
            print(counts.exchanges, counts.connections, counts.client_bytes, counts.server_bytes, flush=True)

    threading.Thread(target=answer, daemon=True).start()
    asyncio.run(run())


class LatencyProxy:
    """The proxy in a child process, in front of 127.0.0.1:`target_port`, `delay_ms` each way."""

    def __init__(self, target_port: int, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.latency_proxy", str(target_port), str(delay_ms)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def counts(self) -> Counts:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return Counts(*map(int, self.proc.stdout.readline().split()))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def measured_rtt(delay_ms: float, trips: int = 50) -> float:
    """Median seconds of a one-byte round trip through a proxy of `delay_ms` to an echo server on 127.0.0.1
    (what the proxy really adds, timer granularity included)."""
    echo = socket.socket()
    echo.bind(("127.0.0.1", 0))
    echo.listen()

    def serve_echo() -> None:
        conn, _ = echo.accept()
        with conn:
            while data := conn.recv(64):
                conn.sendall(data)

    threading.Thread(target=serve_echo, daemon=True).start()
    times = []
    with LatencyProxy(echo.getsockname()[1], delay_ms) as proxy, socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(trips):
            t0 = time.perf_counter()
            s.sendall(b"x")
            s.recv(64)
            times.append(time.perf_counter() - t0)
    echo.close()
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
