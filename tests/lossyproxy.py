"""A TCP proxy on 127.0.0.1 that loses responses: the request reaches the server (which acts on it), the
reply never reaches the client, whose connection drops instead. What a reverse proxy in front of a busy
Prefect server (or a flaky network) does to a POST; clients that retry such a request repeat its effect
unless it carries an idempotency key.

Everything else (keep-alive requests, websockets) passes through as bytes."""

from __future__ import annotations

import re
import socket
import threading
from typing import Self


class LossyProxy:
    """Forwards 127.0.0.1:port to upstream; the response to the first `times` requests whose bytes match
    `lose` (a regex on the request's first bytes) is dropped and the client's connection closed."""

    def __init__(self, upstream: tuple[str, int], lose: bytes, times: int = 1) -> None:
        self.upstream = upstream
        self.pattern = re.compile(lose)
        self.remaining = times
        self.lost = 0                  # responses dropped so far
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False

    def start(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            state = {"poisoned": False}
            threading.Thread(target=self._requests, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._responses, args=(server, client, state), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := client.recv(65536):
                if not state["poisoned"] and self.pattern.search(data):
                    with self._lock:
                        if self.remaining > 0:
                            self.remaining -= 1
                            state["poisoned"] = True
                server.sendall(data)
        except OSError:
            pass
        finally:
            _shut(server)

    def _responses(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := server.recv(65536):
                if state["poisoned"]:          # the server has acted and answered: the answer is lost
                    with self._lock:
                        self.lost += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, server):
                _shut(s)
                s.close()


def _shut(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
