"""Polite, defensive HTTP over httpx.

`Fetcher.fetch(url)` returns a `FetchResult` or raises a `FetchError` subclass. It does, in order:
robots.txt check → per-host slot (concurrency + delay) → GET with conditional headers (or, given `form=`, a
form POST) → bounded manual redirects (each hop re-checked) → streamed body under a size cap and an overall
deadline → charset.
The address policy is enforced in the connection layer (`GuardedBackend`): every TCP connect resolves the
name itself, refuses private/loopback/link-local/reserved answers unless allowed, and connects to the
address it checked (no DNS-rebinding gap between check and use).
Transient failures (timeouts, resets, 408/425/429/5xx) are retried with exponential backoff, honouring
Retry-After up to a cap; longer waits are raised so the source's next poll moves instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import ssl
import time
import urllib.robotparser
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpcore
import httpx

from balkanwatch.config import FetchSettings
from balkanwatch.errors import (
    BodyTooLargeError,
    FetchError,
    ForbiddenAddressError,
    HostBusyError,
    RobotsDisallowedError,
    TerminalFetchError,
    TransientFetchError,
)
from balkanwatch.models import FetchResult
from balkanwatch.urls import host_of
from connectors.charset import detect_encoding

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
TRANSIENT_CODES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
ROBOTS_MAX_BYTES = 500_000   # Google's documented robots.txt limit
CRAWL_DELAY_CAP = 30.0       # a Crawl-delay above this is treated as this (some sites ask for hours)
# One connection pool per origin (scheme, host and port). httpcore's pool scans every connection it holds, with a
# socket poll for each idle one, each time it hands a connection to a request; one pool for every site polled
# at once made that scan the poll's biggest cost once connections were reused (session 26: 500 conditional GETs
# to 4 hosts × 8 slots, 3.96M `is_idle` calls and 132k `getpeername` in one profile). A pool per origin holds at
# most its per-host slots. httpx's default keeps 20 idle connections per pool; the slots are the limit here
# (with one pool for all hosts that default closed every connection after one request: 243 TCP connects for
# 240 requests at 4 hosts × 8). At most MAX_POOLS pools stay open: past it, the least recently used idle ones are
# closed (a run over thousands of sites would otherwise keep their idle connections open to its end, against
# the process's open-file limit; httpcore only expires an idle connection when its pool is used again).
MAX_POOLS = 256
# A response whose body we do not want (a 304, a redirect, an error page) is read to its end when it is at
# most this long, so its connection goes back to the pool: httpx closes a connection whose response was left
# unread. Without it an unchanged re-poll, the common cycle, opened a new connection (a new TLS handshake on
# a real site) for every feed (session 26: 125 client ports for 126 requests to one host).
DRAIN_MAX_BYTES = 65_536
Sleep = Callable[[float], Awaitable[None]]


def forbidden_reason(ip: str) -> str | None:
    """Why an address may not be fetched by default, or None if it is a public unicast address."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    for label, test in (("loopback", addr.is_loopback), ("link-local", addr.is_link_local),
                        ("private", addr.is_private), ("multicast", addr.is_multicast),
                        ("reserved", addr.is_reserved), ("unspecified", addr.is_unspecified)):
        if test:
            return label
    if not addr.is_global:
        return "non-global"
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves, checks and pins every TCP connection's address."""

    def __init__(self, allow_private: bool, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allow_private = allow_private
        self.inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[str]:
        """All addresses of host; refuses the whole name if any answer is forbidden."""
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise TransientFetchError(f"name does not resolve: {host} ({exc.strerror})") from exc
        addrs = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            for a in addrs:
                if reason := forbidden_reason(a):
                    raise ForbiddenAddressError(
                        f"refused {host} -> {a}: {reason} address (fetch.allow_private_networks is false)")
        return addrs

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None
                          ) -> httpcore.AsyncNetworkStream:
        addrs = await self.resolve(host, port)
        last: Exception | None = None
        for addr in addrs:
            try:
                return await self.inner.connect_tcp(addr, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise ForbiddenAddressError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class HostLimiter:
    """At most `concurrency` requests per host, and `delay` seconds between the starts of two of them."""

    def __init__(self, concurrency: int, delay: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.concurrency, self.delay, self.clock, self.sleep = concurrency, delay, clock, sleep
        self._sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self.concurrency))
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last: dict[str, float] = {}
        self.extra_delay: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, host: str, patience: float | None = None) -> AsyncIterator[None]:
        """Hold one of the host's slots, started `delay` after the one before; raises HostBusyError when no
        slot comes within `patience` seconds (None: wait for as long as it takes)."""
        sem = self._sems[host]
        try:
            async with asyncio.timeout(patience):
                await sem.acquire()
                try:
                    async with self._locks[host]:
                        delay = max(self.delay, self.extra_delay.get(host, 0.0))
                        wait = self._last.get(host, -1e18) + delay - self.clock()
                        if wait > 0:
                            await self.sleep(wait)
                        self._last[host] = self.clock()
                except BaseException:
                    sem.release()
                    raise
        except TimeoutError:
            raise HostBusyError(f"{host} is busy: no turn within {patience:.0f}s (its politeness delay, "
                                f"{self.concurrency} at a time); left for the next run") from None
        try:
            yield
        finally:
            sem.release()


def parse_max_age(value: str | None) -> float | None:
    """Seconds of a Cache-Control max-age (None without one, or when no-cache / no-store say revalidate)."""
    if not value:
        return None
    directives = [d.strip().lower() for d in value.split(",")]
    if any(d in ("no-cache", "no-store") for d in directives):
        return None
    for d in directives:
        name, _, arg = d.partition("=")
        if name.strip() == "max-age":
            try:
                seconds = float(arg.strip().strip('"'))
            except ValueError:
                return None
            return seconds if seconds > 0 else None
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _status_error(status: int, url: str, headers: httpx.Headers) -> FetchError:
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status in TRANSIENT_CODES:
        return TransientFetchError(f"HTTP {status} from {url}", url=url, status=status, retry_after=retry_after)
    return TerminalFetchError(f"HTTP {status} from {url}", url=url, status=status)


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error, if that is what it is."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


class Fetcher:
    """One per run: shares the connection pool, per-host limits and robots.txt cache between sources."""

    def __init__(self, settings: FetchSettings, *, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.s = settings
        self.sleep = sleep
        self.limiter = HostLimiter(settings.per_host_concurrency, settings.per_host_delay, clock=clock, sleep=sleep)
        self._clients: dict[str, httpx.AsyncClient] = {}   # per origin, least recently used first (see MAX_POOLS)
        self._busy: dict[str, int] = {}                    # requests under way, per origin
        self._ssl: ssl.SSLContext | None = None   # one for all of them: loading the CA bundle costs ~18 ms
        self.backend = GuardedBackend(settings.allow_private_networks)   # every pool connects through it
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._robots_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _new_client(self) -> httpx.AsyncClient:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
            if self.s.ca_file:   # an intranet's own CA, besides the system's
                self._ssl.load_verify_locations(cafile=self.s.ca_file)
        transport = httpx.AsyncHTTPTransport(verify=self._ssl, retries=0, limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=self.s.per_host_concurrency))
        # httpx exposes no public hook for the network backend; the pool attribute is stable in the pinned 0.28.
        transport._pool._network_backend = self.backend
        return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False,
                                 timeout=httpx.Timeout(self.s.timeout),
                                 headers={"User-Agent": self.s.user_agent, "Accept-Encoding": "gzip, deflate, br"})

    @asynccontextmanager
    async def _pool(self, url: str) -> AsyncIterator[httpx.AsyncClient]:
        """The client (and connection pool) of url's origin, made on first use and kept as the most recently
        used. Making one past MAX_POOLS first closes the least recently used pools no request is using, so a
        run over thousands of sites does not keep thousands of idle connections open."""
        origin = f"{urlsplit(url).scheme}://{host_of(url)}"
        client = self._clients.pop(origin, None)
        idle: list[httpx.AsyncClient] = []
        if client is None:
            client = self._new_client()
            for other in list(self._clients):
                if len(self._clients) < MAX_POOLS:
                    break
                if not self._busy.get(other):
                    idle.append(self._clients.pop(other))
                    self._busy.pop(other, None)
        self._clients[origin] = client
        self._busy[origin] = self._busy.get(origin, 0) + 1
        try:
            for old in idle:
                await old.aclose()
            yield client
        finally:
            self._busy[origin] -= 1

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- robots.txt ---------------------------------------------------------------------------------
    async def _robots_for(self, url: str) -> urllib.robotparser.RobotFileParser | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        async with self._robots_locks[origin]:
            if origin not in self._robots:
                self._robots[origin] = await self._load_robots(origin)
        return self._robots[origin]

    async def _load_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        """None means 'no rules' (404, unreachable, garbage): allow all, as the big crawlers do for 4xx."""
        try:
            result = await self._get(origin + "/robots.txt", {}, max_bytes=ROBOTS_MAX_BYTES)
        except ForbiddenAddressError:
            raise
        except FetchError:
            return None
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(result.text().splitlines())
        delay = parser.crawl_delay(self.s.user_agent)
        if delay:
            self.limiter.extra_delay[host_of(origin)] = min(float(delay), CRAWL_DELAY_CAP)
        return parser

    async def allowed_by_robots(self, url: str) -> bool:
        if not self.s.respect_robots:
            return True
        parser = await self._robots_for(url)
        return parser is None or parser.can_fetch(self.s.user_agent, url)

    # -- one request, no retries ---------------------------------------------------------------------
    async def _stream_body(self, resp: httpx.Response, url: str, max_bytes: int) -> bytes:
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and "content-encoding" not in resp.headers and int(declared) > max_bytes:
            raise BodyTooLargeError(f"body of {url} is {declared} bytes (cap {max_bytes})", url=url)
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLargeError(f"body of {url} exceeds {max_bytes} bytes (decompressed)", url=url)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    async def _drain(resp: httpx.Response) -> None:
        """Read an unwanted body to its end if it is short (the connection is then reused): one whose length
        is declared up to DRAIN_MAX_BYTES, or chunked and ending by then. Any other is left (leaving the
        stream closes the connection, as before): reading a long one, or one that ends only when the server
        closes, costs more than a new connection. A body that breaks off is no error: it was not wanted."""
        declared = resp.headers.get("content-length", "")
        chunked = "chunked" in resp.headers.get("transfer-encoding", "").lower()
        if resp.status_code != 304 and not chunked and not (declared.isdigit() and int(declared) <= DRAIN_MAX_BYTES):
            return
        size = 0
        try:
            async for chunk in resp.aiter_raw():
                size += len(chunk)
                if size > DRAIN_MAX_BYTES:
                    return
        except httpx.HTTPError:   # the body was not wanted: a broken one only costs its connection
            return

    async def _get(self, url: str, headers: dict[str, str], *, max_bytes: int,
                   form: dict[str, str] | None = None, patience: float | None = None) -> FetchResult:
        """GET (a form POST when `form` is given) with bounded manual redirects, size cap and overall deadline;
        raises FetchError."""
        started, t0 = datetime.now(UTC), time.perf_counter()
        hops: list[str] = []
        permanent = True   # every redirect a 301 or 308 so far
        current = url
        loop = asyncio.get_running_loop()
        budget = self.s.timeout * 3   # seconds in flight, redirects included; waiting for a host's slot is not
        try:                          # in it (200 pages of one host queue for minutes behind its politeness delay)
            async with asyncio.timeout(None) as deadline:
                while True:
                    async with self.limiter.slot(host_of(current), patience):
                        began = loop.time()
                        deadline.reschedule(began + budget)
                        if not hops:
                            t0 = time.perf_counter()   # elapsed_ms: the server's time, not the queue's
                        async with self._pool(current) as client, client.stream(
                                "GET" if form is None else "POST", current, headers=headers, data=form) as resp:
                            if resp.status_code in REDIRECT_CODES:
                                await self._drain(resp)
                                budget -= loop.time() - began
                                deadline.reschedule(None)     # the next hop's queue is not in flight either
                                target = resp.headers.get("location")
                                if not target:
                                    raise TerminalFetchError(f"redirect without Location from {current}", url=url)
                                permanent = permanent and resp.status_code in (301, 308)
                                if resp.status_code in (301, 302, 303):
                                    form = None   # as browsers do: the redirected request is a GET
                                hops.append(current)
                                current = urljoin(current, target)
                                if len(hops) > self.s.max_redirects or current in hops:
                                    raise TerminalFetchError(
                                        f"too many redirects or a loop ({len(hops)} hops) from {url}", url=url)
                                if urlsplit(current).scheme not in ("http", "https"):
                                    raise TerminalFetchError(f"redirect to non-http URL {current}", url=url)
                                continue
                            if resp.status_code == 304:
                                await self._drain(resp)
                                body = b""
                            elif 200 <= resp.status_code < 300:
                                body = await self._stream_body(resp, current, max_bytes)
                            else:
                                await self._drain(resp)
                                raise _status_error(resp.status_code, current, resp.headers)
                            ctype = resp.headers.get("content-type", "")
                            return FetchResult(
                                url=url, final_url=current, status=resp.status_code, body=body,
                                content_type=ctype, encoding=detect_encoding(body, ctype) if body else "utf-8",
                                etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified"),
                                body_hash=hashlib.sha256(body).hexdigest(),
                                elapsed_ms=(time.perf_counter() - t0) * 1000, fetched_at=started,
                                not_modified=resp.status_code == 304, redirects=tuple(hops),
                                moved_permanently=bool(hops) and permanent,
                                max_age=parse_max_age(resp.headers.get("cache-control")))
        except TimeoutError as exc:
            raise TransientFetchError(f"deadline of {self.s.timeout * 3:.0f}s exceeded for {url}", url=url) from exc
        except httpx.TimeoutException as exc:
            raise TransientFetchError(f"timeout fetching {current}: {type(exc).__name__}", url=url) from exc
        except httpx.TransportError as exc:
            if isinstance(exc.__cause__, FetchError):
                raise exc.__cause__ from exc
            rejected = _certificate_error(exc)
            if rejected is not None:   # not worth a retry in this run: a certificate does not mend in seconds
                raise TerminalFetchError(
                    f"TLS certificate of {host_of(current)} rejected: {rejected.verify_message or rejected} (a "
                    "site's expired or wrong certificate; for an intranet's own CA, set fetch.ca_file)",
                    url=url) from exc
            raise TransientFetchError(f"network error fetching {current}: {type(exc).__name__}: {exc}", url=url) from exc
        except httpx.InvalidURL as exc:
            raise TerminalFetchError(f"invalid URL {current}: {exc}", url=url) from exc

    # -- public ----------------------------------------------------------------------------------------
    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    max_bytes: int | None = None, form: dict[str, str] | None = None,
                    patience: float | None = None) -> FetchResult:
        """Fetch url politely (a form POST when `form` is given); retries transient errors; raises FetchError
        subclasses. `patience`: seconds to wait for the host's turn at most (HostBusyError past it; the
        fetch's deadline only counts the time in flight)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise TerminalFetchError(f"not an http(s) URL: {url}", url=url)
        if not await self.allowed_by_robots(url):
            raise RobotsDisallowedError(f"robots.txt disallows {url} for {self.s.user_agent!r}", url=url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                return await self._get(url, headers, max_bytes=max_bytes or self.s.max_body_bytes, form=form,
                                       patience=patience)
            except TransientFetchError as exc:
                attempt += 1
                wait = self.s.backoff_base * 2 ** (attempt - 1)
                if exc.retry_after is not None:
                    if exc.retry_after > self.s.retry_after_cap:
                        raise
                    wait = max(wait, exc.retry_after)
                if attempt > self.s.retries:
                    raise
                await self.sleep(wait)
