"""The DuckDB warehouse: one class, `Warehouse`, owns every SQL statement against the tables."""

from warehouse.store import SCHEMA_VERSION, Warehouse, fts_extension_path

__all__ = ["SCHEMA_VERSION", "Warehouse", "fts_extension_path"]
