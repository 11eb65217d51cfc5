"""What the per-domain mixins of `Warehouse` rely on (the class in store.py provides it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


class WarehouseBase:
    """The one connection, statement execution with errors wrapped, transactions, rows as dicts."""

    con: duckdb.DuckDBPyConnection

    if TYPE_CHECKING:
        def _exec(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection: ...
        def transaction(self) -> Any: ...
        def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]: ...
        def registered(self, **tables: Any) -> Any: ...
