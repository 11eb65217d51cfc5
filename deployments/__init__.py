"""Schedules: the deployments `balkanwatch serve` serves, and prefect.yaml for a work pool."""
