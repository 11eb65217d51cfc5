"""moto's S3 server on 127.0.0.1 for the lake's s3:// data path (tests/test_lake_s3.py, bench/lake_remote.py).

A real S3 API over HTTP in a child process (moto's `moto_server`, from the dev dependencies), so DuckDB's
httpfs talks to it exactly as it would to a remote bucket.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.devserver import free_port

READY_SECONDS = 10.0


def client(endpoint: str, key_id: str, secret: str) -> Any:
    """A boto3 S3 client of the server at host:port."""
    import boto3

    return boto3.client("s3", endpoint_url=f"http://{endpoint}", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, region_name="us-east-1")


@contextmanager
def moto_s3(bucket: str, key_id: str, secret: str) -> Iterator[str]:
    """moto's S3 server in a child process on a free loopback port, with one bucket; yields host:port."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port}") from None
                time.sleep(0.05)
        endpoint = f"127.0.0.1:{port}"
        client(endpoint, key_id, secret).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        proc.kill()
        proc.wait()
