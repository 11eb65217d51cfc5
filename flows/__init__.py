"""Prefect flows: orchestration only. Decisions live in balkanwatch/, I/O in connectors/ and warehouse/."""
