"""What the per-domain mixins of `Warehouse` rely on (the class in store.py provides it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import duckdb


class WarehouseBase:
    """The one connection, statement execution with errors wrapped, transactions, rows as dicts."""

    con: duckdb.DuckDBPyConnection

    if TYPE_CHECKING:
        def _exec(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection: ...
        def transaction(self, *, verify_locks: bool = True) -> Any: ...
        def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]: ...
        def registered(self, **tables: Any) -> Any: ...
        def id_table(self, name: str, ids: Any, column: str = ...) -> Any: ...


@overload
def utc_naive(when: datetime) -> datetime: ...
@overload
def utc_naive(when: None) -> None: ...
@overload
def utc_naive(when: datetime | None) -> datetime | None: ...
def utc_naive(when: datetime | None) -> datetime | None:
    """Aware → naive UTC, as stored; naive values are taken to be UTC already."""
    if when is None:
        return None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
