"""A lake created by an older balkanwatch is migrated like a file (issue #16): the v1 schema in a lake on a
real PostgreSQL catalog (tests/postgres.py), opened by today's warehouse, ends with today's tables and
columns, exactly those of a new lake, its rows kept and backfilled by the same rules as on the file."""

from __future__ import annotations

from pathlib import Path

from balkanwatch.config import load_config
from balkanwatch.urls import publisher_of
from warehouse import SCHEMA_VERSION, Warehouse
from warehouse.lake import LakeTarget, connect_lake, lake_schema

V1 = Path(__file__).parent / "data" / "schema_v1.sql"
URLS = ["https://WWW.Koha.net/arberi/1?x=1", "http://user:pw@rts.rs:8080/page", "https://www.bbc.co.uk#top",
        "https://m.b92.net/info/vesti", "https://amp.example.co.uk/x", "https://m.me/page"]


def lake_columns(wh: Warehouse) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in wh.con.execute(  # type: ignore[misc]
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_catalog = 'lake' ORDER BY table_name, ordinal_position""").fetchall()]


def a_lake(postgres, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    catalog = postgres.createdb(name)
    config = tmp_path / f"{name}.toml"
    config.write_text(f'[warehouse]\nbackend = "ducklake"\ncatalog = "{catalog}"\ndata_path = "{name}-data"\n')
    return config


def test_a_v1_lake_migrates_to_the_schema_of_a_new_one(postgres, tmp_path: Path) -> None:
    old = load_config(a_lake(postgres, tmp_path, "lakev1"))
    con = connect_lake(LakeTarget.from_config(old), read_only=False)   # what a v1 balkanwatch created
    con.execute(lake_schema(V1.read_text()))
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    for i, url in enumerate(URLS):
        con.execute("""INSERT INTO articles (article_id, url, source, published_from, fetched_at, text,
                       content_hash, extractor_version) VALUES (?, ?, 's', 'none', now(), 'old text', 'h', 'v')""",
                    [f"a{i}", url])
    con.close()

    with Warehouse.for_config(old) as wh:          # today's writer applies migrations 2..SCHEMA_VERSION
        assert wh.version() == SCHEMA_VERSION
        versions = [r["version"] for r in wh.rows("SELECT version FROM schema_version ORDER BY version")]
        assert versions == [1, *(v for v, _ in Warehouse.migrations() if v > 1)]
        migrated = lake_columns(wh)
        rows = wh.rows("SELECT url, publisher, story_id, text FROM articles ORDER BY article_id")
    assert [r["url"] for r in rows] == URLS and {r["text"] for r in rows} == {"old text"}
    assert [r["publisher"] for r in rows] == [publisher_of(u) for u in URLS]   # v9's and v14's backfills, as on the file
    assert all(r["story_id"] is None for r in rows)

    with Warehouse.for_config(old) as wh:          # a second open applies nothing
        assert wh.rows("SELECT count(*) AS n FROM schema_version")[0]["n"] == len(versions)
    with Warehouse.for_config(load_config(a_lake(postgres, tmp_path, "lakenew"))) as wh:
        assert lake_columns(wh) == migrated
