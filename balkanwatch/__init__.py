"""balkanwatch: scheduled news ingestion, dedupe and alerting over DuckDB, run by Prefect."""

__version__ = "0.1.0"
