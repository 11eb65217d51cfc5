"""One exception tree for the whole product.

    BalkanwatchError
    ├── ConfigError                 bad or unknown configuration (names the key)
    ├── FetchError                  anything that stopped us getting a body
    │   ├── TransientFetchError     timeouts, resets, 5xx, 429: retry later
    │   └── TerminalFetchError      4xx, refused address, robots, too large: do not retry this run
    │       ├── ForbiddenAddressError
    │       ├── RobotsDisallowedError
    │       └── BodyTooLargeError
    ├── ParseError                  a feed / sitemap we could not use at all
    ├── ExtractionError             trafilatura found no article in a page
    ├── WarehouseError              DuckDB failed (cause kept as __cause__)
    │   ├── WarehouseBusyError      another process holds the warehouse; queue or skip
    │   ├── WarehouseInUseError     a program that is not balkanwatch has the DuckDB file open
    │   ├── QueryTimeoutError       an analyst's query ran past its time limit and was stopped
    │   └── CatalogLockLost         a lake's catalog dropped a lock we held (it restarted); rolled back
    └── DeliveryError               an alert e-mail could not be sent; it stays in the outbox
"""

from __future__ import annotations


class BalkanwatchError(Exception):
    """Base class of every error balkanwatch raises on purpose."""

    kind = "error"


class ConfigError(BalkanwatchError):
    """The configuration is invalid; the message names the offending key."""

    kind = "config"


class FetchError(BalkanwatchError):
    """A URL could not be fetched."""

    kind = "fetch"
    transient = False

    def __init__(self, message: str, *, url: str = "", status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after


class TransientFetchError(FetchError):
    """Worth retrying later: timeouts, connection resets, 5xx, 429."""

    kind = "transient"
    transient = True


class TerminalFetchError(FetchError):
    """Not worth retrying in this run: 4xx, refused by policy, too large."""

    kind = "terminal"


class HostBusyError(FetchError):
    """Not fetched: the host's turn did not come within the wait allowed (fetch.host_queue_seconds), because
    many pages of it queue behind its politeness delay. Not a failure of the page: it waits for the next run."""

    kind = "host-busy"


class ForbiddenAddressError(TerminalFetchError):
    """The host resolves to a private, loopback, link-local or reserved address."""

    kind = "forbidden-address"


class RobotsDisallowedError(TerminalFetchError):
    """robots.txt disallows this URL for our user agent."""

    kind = "robots"


class BodyTooLargeError(TerminalFetchError):
    """The (decoded) body is larger than fetch.max_body_bytes."""

    kind = "too-large"


class ParseError(BalkanwatchError):
    """A feed or sitemap could not be parsed into any item."""

    kind = "parse"


class AggregatorLinkError(ParseError):
    """An aggregator's item link (Google News, a redirect page) that does not lead to a publisher's article."""

    kind = "aggregator"


class ExtractionError(BalkanwatchError):
    """No article text could be extracted from a page."""

    kind = "extract"


class ExtractionTimeout(ExtractionError):
    """A page's extraction ran past its deadline (`ingest.extract_timeout`)."""


class WarehouseError(BalkanwatchError):
    """A DuckDB operation failed; the original error is kept as __cause__."""

    kind = "warehouse"


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse lock longer than we were willing to wait."""

    kind = "busy"


class WarehouseInUseError(WarehouseError):
    """The DuckDB file is open in a program that is not balkanwatch (a notebook, the duckdb CLI, a SQL
    client): DuckDB's own lock, which our locks cannot queue behind, still held after the wait. Not a
    WarehouseBusyError: no balkanwatch run is doing the work meanwhile, so a run that gives up fails."""

    kind = "in-use"

    def __init__(self, path: str, holder: str, waited: float) -> None:
        self.path, self.holder, self.waited = path, holder, waited
        super().__init__(
            f"the warehouse file {path} is open in another program ({holder}); gave up after {waited:.0f}s. "
            "DuckDB keeps a file to one program while that program writes it, and lets no program write it "
            "while another has it open, even read-only. "
            "Close that program's connection to it (in a notebook: con.close()), or query through "
            "`balkanwatch sql`, which takes its turn between a run's writes")


class QueryTimeoutError(WarehouseError):
    """An analyst's query (`balkanwatch sql`) ran past `warehouse.query_timeout` and was stopped."""

    kind = "query-timeout"

    def __init__(self, timeout: float, *, file: bool = True) -> None:
        self.timeout = timeout
        why = " while a query reads the DuckDB file, ingest runs cannot write to it." if file else ""
        super().__init__(
            f"query stopped after {timeout:g}s (warehouse.query_timeout):{why} Narrow it (WHERE, LIMIT), or give "
            "it longer with `sql --timeout SECONDS` (0: no limit)")


class CatalogLockLost(WarehouseError):
    """A lake's catalog no longer holds an advisory lock this process took (it restarted, or the connection
    dropped): the transaction about to commit was rolled back, since another process may hold the lock."""

    kind = "lock-lost"


class DeliveryError(BalkanwatchError):
    """The SMTP server could not be reached or refused a message; the message stays in the outbox."""

    kind = "delivery"
