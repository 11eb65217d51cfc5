"""A lake whose data path is an s3:// URL (issue #16), on a real S3 API (moto's server on 127.0.0.1) and a real
PostgreSQL catalog: the Parquet files land in the bucket, every command reads them back, the sandboxed `sql`
cannot write elsewhere in the bucket, and the secret key never reaches a message."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import toml_sources
from tests.s3 import client, moto_s3

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bw-lake"
KEY_ID, SECRET = "bw-test-key", "s3cr3t-never-shown-4711"
_names = itertools.count()


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's S3 server on a free loopback port with one bucket; yields host:port."""
    pytest.importorskip("boto3")
    with moto_s3(BUCKET, KEY_ID, SECRET) as endpoint:
        yield endpoint


def objects(endpoint: str, prefix: str) -> list[str]:
    listing = client(endpoint, KEY_ID, SECRET).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def cli(cfg: Path, *args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BW_S3_KEY": KEY_ID, "BW_S3_SECRET": secret}
    return subprocess.run([sys.executable, "-m", "app.cli", "--config", str(cfg), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def s3_lake(postgres, write_config, sources: str, endpoint: str) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    prefix = f"lake{next(_names)}/"
    catalog = postgres.createdb(f"s3{prefix[:-1]}")
    cfg = write_config(sources)
    cfg.write_text(cfg.read_text().replace('path = "wh.duckdb"', f'''backend = "ducklake"
catalog = "{catalog}"
data_path = "s3://{BUCKET}/{prefix}"
s3_endpoint = "{endpoint}"
s3_url_style = "path"
s3_use_ssl = false
s3_key_id_env = "BW_S3_KEY"
s3_secret_env = "BW_S3_SECRET"'''))
    return cfg, prefix


def test_a_lake_on_s3_holds_its_parquet_in_the_bucket(corpus, postgres, write_config, s3: str) -> None:  # type: ignore[no-untyped-def]
    sources, arts, _ = corpus
    cfg, prefix = s3_lake(postgres, write_config, toml_sources(sources), s3)
    assert (init := cli(cfg, "warehouse", "init")).returncode == 0, init.stderr[-2000:]
    run = cli(cfg, "ingest", "--no-prefect", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["new_articles"] == len(arts), run.stderr[-2000:]
    stored = objects(s3, prefix)
    assert any(k.endswith(".parquet") for k in stored), stored     # (small tables stay inlined in the catalog)

    counted = cli(cfg, "sql", "SELECT count(*) AS n, count(DISTINCT story_id) AS stories FROM articles",
                  "--format", "json")
    assert counted.returncode == 0, counted.stderr[-2000:]
    assert json.loads(counted.stdout) == [{"n": len(arts), "stories": len({a.story for a in arts})}]
    assert cli(cfg, "stories").returncode == 0
    # the analyst's sql reads the lake's files and cannot write beside them in the bucket
    out_of_bounds = cli(cfg, "sql", f"COPY (SELECT 1) TO 's3://{BUCKET}/elsewhere/x.csv'")
    assert out_of_bounds.returncode != 0 and not objects(s3, "elsewhere/")
    # the S3 secret never shows: not in a failing command's message, not in duckdb_secrets()
    secrets = cli(cfg, "sql", "SELECT secret_string FROM duckdb_secrets()", "--format", "json")
    assert SECRET not in secrets.stdout + secrets.stderr
    wrong = cli(cfg, "ingest", "--no-prefect", "--force", secret="wrong-" + SECRET)
    assert SECRET not in wrong.stdout + wrong.stderr


def test_maintain_and_time_travel_on_an_s3_lake(corpus, postgres, write_config, s3: str) -> None:  # type: ignore[no-untyped-def]
    sources, arts, _ = corpus
    cfg, prefix = s3_lake(postgres, write_config, toml_sources(sources), s3)
    assert cli(cfg, "warehouse", "init").returncode == 0
    assert cli(cfg, "ingest", "--no-prefect").returncode == 0
    assert not any("/articles/" in k for k in objects(s3, prefix))       # inlined in the catalog…
    maintained = cli(cfg, "warehouse", "maintain", "--no-prefect")
    assert maintained.returncode == 0, maintained.stderr[-2000:]
    assert any("/articles/" in k and k.endswith(".parquet") for k in objects(s3, prefix))   # …flushed to S3
    first = cli(cfg, "sql", "SELECT count(*) AS n FROM articles", "--format", "json", "--version", "1")
    assert first.returncode == 0 and json.loads(first.stdout) == [{"n": 0}], first.stderr[-2000:]
    now = cli(cfg, "sql", "SELECT count(*) AS n FROM articles", "--format", "json")
    assert json.loads(now.stdout) == [{"n": len(arts)}]


def test_the_s3_secret_is_cut_from_messages_and_kept_out_of_the_statement_text() -> None:
    from warehouse.lake import LakeTarget, S3Access

    access = S3Access(endpoint="127.0.0.1:9", key_id=KEY_ID, secret=SECRET, url_style="path", use_ssl=False)
    target = LakeTarget("dbname=x", f"s3://{BUCKET}/p/", s3=access)
    statement = access.secret_sql()
    assert "TEMPORARY SECRET" in statement and "USE_SSL false" in statement and "URL_STYLE 'path'" in statement
    assert SECRET not in target.scrub(f"IO Error: could not create secret with {statement}")
    anonymous = S3Access().secret_sql()
    assert "KEY_ID" not in anonymous and "SECRET '" not in anonymous
