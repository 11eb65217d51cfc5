import re
from pathlib import Path

import pytest

from balkanwatch.config import load_config, parse_config, settings_reference
from balkanwatch.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_contract_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("""
[warehouse]
path = "data/balkanwatch.duckdb"     # relative to the config file

[fetch]
allow_private_networks = false
per_host_concurrency = 2
per_host_delay = 1.0

[[sources]]
name = "Example feed"
feed = "https://example.org/feed.xml"

[[sources]]
name = "Example pages"
urls = ["https://example.org/a.html"]

[[sources]]
name = "Example sitemap"
sitemap = "https://example.org/sitemap.xml"
""")
    cfg = load_config(path)
    assert cfg.warehouse_path == tmp_path / "data" / "balkanwatch.duckdb"
    assert [s.fetch_kind for s in cfg.sources] == ["feed", "urls", "sitemap"]
    assert cfg.fetch.allow_private_networks is False


def test_watchlist_contract_example(tmp_path: Path) -> None:
    from balkanwatch.watch import Watchlist, match_all

    path = tmp_path / "c.toml"
    path.write_text("""
[[watchlists]]
name = "kfor"
any = ["KFOR", "КФОР", "Kosovo Force"]

[[watchlists]]
name = "north-kosovo-clash"
any = ["Kosovo", "Kosova", "Косово"]
all_of_any = [["clash", "shooting", "sukob", "пуцњава", "përplasje"]]   # or an equivalent documented form
""", encoding="utf-8")
    cfg = load_config(path)
    lists = [Watchlist.build(w.name, w.any, w.all_of_any, w.none) for w in cfg.watchlists]
    assert set(match_all(lists, "КФОР: пуцњава на Косово")) == {"kfor", "north-kosovo-clash"}


def test_private_networks_refused_by_default() -> None:
    assert parse_config({}, Path(".")).fetch.allow_private_networks is False


@pytest.mark.parametrize("data, key", [
    ({"fetch": {"per_host_delay_s": 1}}, "fetch.per_host_delay_s"),
    ({"bogus": {}}, "bogus"),
    ({"sources": [{"name": "x", "feed": "https://a.org/f", "colour": "red"}]}, "sources[0].colour"),
    ({"sources": [{"name": "x", "feed": "ftp://a.org/f"}]}, "sources[0]"),
    ({"sources": [{"name": "x", "feed": "https://a.org/f", "urls": ["https://a.org/b"]}]}, "exactly one"),
    ({"sources": [{"feed": "https://a.org/f"}]}, "sources[0].name"),
    ({"fetch": {"timeout": "fast"}}, "fetch.timeout"),
    ({"fetch": {"per_host_concurrency": -1}}, "fetch.per_host_concurrency"),
    ({"sources": [{"name": "x", "feed": "https://a.org/f"}, {"name": "x", "feed": "https://b.org/f"}]}, "duplicate"),
    ({"sources": [{"name": "x", "feed": "https://a.org/f?utm_source=x"}, {"name": "y", "feed": "http://www.a.org/f"}]},
     "'y' reads the same feed as 'x'"),
    ({"watchlists": [{"name": "w"}]}, "watchlists[0].any"),
    ({"watchlists": [{"name": "w", "any": ["KFOR"], "all_of_any": ["clash"]}]}, "watchlists[0].all_of_any"),
    ({"watchlists": [{"name": "w", "any": ["!!"]}]}, "watchlists[0] (w)"),
    ({"watchlists": [{"name": "w", "any": ["KFOR"], "some": ["x"]}]}, "watchlists[0].some"),
    ({"alerts": {"email_to": ["a@example.org\r\nBcc: x@evil.example"]}}, "alerts.email_to"),
    ({"alerts": {"email_from": "not-an-address"}}, "alerts.email_from"),
    ({"alerts": {"bucket_minutes": 0}}, "alerts.bucket_minutes"),
    ({"smtp": {"security": "tls"}}, "smtp.security"),
    ({"smtp": {"password": "inline-secret"}}, "smtp.password"),
    ({"smtp": {"port": 872500}}, "smtp.port"),
    ({"smtp": {"port": 0}}, "smtp.port"),
    ({"smtp": {"timeout": 0}}, "smtp.timeout"),
    ({"fetch": {"timeout": 0}}, "fetch.timeout must be above 0"),               # every request would fail
    ({"ingest": {"max_items_per_source": 0}}, "ingest.max_items_per_source"),   # nothing would ever be taken
    ({"alerts": {"window_hours": 0}}, "alerts.window_hours"),                  # no surge would ever alert
    ({"alerts": {"history_days": 0}}, "alerts.history_days"),
    ({"schedule": {"ingest_every_minutes": 0}}, "schedule.ingest_every_minutes"),
    ({"alerts": {"every_minutes": 0}}, "alerts.every_minutes"),
    ({"alerts": {"surge_hours": []}}, "alerts.surge_hours"),
    ({"alerts": {"surge_hours": [1, 0]}}, "alerts.surge_hours"),
    ({"alerts": {"surge_hours": ["1h"]}}, "alerts.surge_hours"),
    ({"alerts": {"surge_hours": 3}}, "alerts.surge_hours"),
    ({"alerts": {"alerts_per_month": 0}}, "alerts.alerts_per_month"),
    ({"alerts": {"alerts_per_month": 40}}, "alerts.alerts_per_month"),   # more than one a day: the cooldown
    ({"alerts": {"alerts_per_month": 8, "cooldown_hours": 96}}, "alerts.cooldown_hours = 96"),
    ({"alerts": {"cooldown_hours": 0}}, "alerts.cooldown_hours"),
    ({"alerts": {"threshold": 0.6}}, "alerts.alerts_per_month"),   # the old score threshold: pointed on
    ({"alerts": {"false_alerts_per_month": 1}}, "alerts.alerts_per_month"),   # sessions 8-17's rate: pointed on
    ({"alerts": {"record_check": True}}, "alerts.record_check"),
    ({"watchlists": [{"name": "w", "any": ["KFOR"], "alerts_per_month": -1}]}, "watchlists[0].alerts_per_month"),
    ({"watchlists": [{"name": "w", "any": ["KFOR"], "alerts_per_month": 40}]}, "watchlists[0] (w).alerts_per_month"),
    ({"alerts": {"cooldown_hours": 96}, "watchlists": [{"name": "w", "any": ["KFOR"], "alerts_per_month": 8}]},
     "alerts.cooldown_hours = 96"),
    ({"watchlists": [{"name": "w", "any": ["KFOR"], "email_to": ["desk@example.org\nBcc: x@evil.example"]}]},
     "watchlists[0] (w).email_to"),
])
def test_bad_config_names_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        parse_config(data, Path("."))


def test_a_topic_may_set_its_own_alert_budget_and_recipients() -> None:
    cfg = parse_config({"alerts": {"email_to": ["all@example.org"], "alerts_per_month": 4},
                        "watchlists": [{"name": "kfor", "any": ["KFOR"], "alerts_per_month": 12,
                                        "email_to": ["kosovo-desk@example.org"]},
                                       {"name": "eulex", "any": ["EULEX"], "alerts_per_month": 0.5},
                                       {"name": "nato", "any": ["NATO"]}]}, Path("."))
    kfor, eulex, nato = (cfg.topic_alerts(n) for n in ("kfor", "eulex", "nato"))
    assert (kfor.alerts_per_month, kfor.email_to) == (12, ["kosovo-desk@example.org"])
    assert (eulex.alerts_per_month, eulex.email_to) == (0.5, ["all@example.org"])
    assert nato == cfg.alerts and cfg.topic_alerts("not configured") == cfg.alerts
    assert kfor.cooldown_hours == cfg.alerts.cooldown_hours and kfor.surge_hours == cfg.alerts.surge_hours


def test_sources_reading_different_addresses_of_one_site_are_two_sources() -> None:
    """One feed under two names is refused (above); two searches of one aggregator, or a site's feed and its
    sitemap, are two sources."""
    config = parse_config({"sources": [
        {"name": "gn-kfor", "feed": "https://news.google.com/rss/search?q=KFOR&hl=en-US"},
        {"name": "gn-kosovo", "feed": "https://news.google.com/rss/search?q=Kosovo&hl=en-US"},
        {"name": "a", "feed": "https://a.org/feed"}, {"name": "a-map", "sitemap": "https://a.org/sitemap.xml"},
        {"name": "a-pages", "urls": ["https://a.org/feed"]}]}, Path("."))
    assert len(config.sources) == 5


def test_shipped_default_config_is_valid() -> None:
    cfg = load_config(ROOT / "balkanwatch" / "default.toml")
    assert len(cfg.sources) >= 8
    assert any("KFOR" in s.location for s in cfg.sources)
    assert {w.name for w in cfg.watchlists} >= {"kfor", "north-kosovo-clash", "eulex"}


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [key for key, *_ in settings_reference() if f"`{key}`" not in readme]
    assert not missing, f"settings missing from README's configuration reference: {missing}"


def test_every_cli_command_is_documented_in_the_readme() -> None:
    from app.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    missing = [name for name in sub.choices if f"balkanwatch {name}" not in readme and f"`{name}`" not in readme]
    assert not missing, f"commands missing from the README: {missing}"


def test_reliability_doc_names_tests_that_exist() -> None:
    """docs/reliability.md cites tests by `file::name`; each must exist (the doc cannot drift from the suite)."""
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    cited = re.findall(r"`((?:[\w/]+\.py)|…)::(test_\w+\*?)", doc)
    assert len(cited) >= 25
    for path, name in cited:
        file = ROOT / "tests" / ("hostile/test_bad_servers.py" if path == "…" else path)
        source = file.read_text(encoding="utf-8")
        assert f"def {name.rstrip('*')}" in source, (path, name)
