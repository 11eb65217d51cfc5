"""The Prefect UI as an analyst sees it (#18): a real `prefect server start` serving its UI, one ingest run
(and its alerts subflow) of a surge whose headlines are hostile, and headless Chromium opening the run's
artifact pages. The alert chart must render as an image; the hostile headlines must show as text, never
become elements, links, requests or dialogs. Needs Debian's `chromium` (`.ci/run` installs it when it can);
without it the browser tests skip with the reason and the API / e-mail checks still run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from app.devserver import LoopbackServer, free_port
from tests.browser import Browser, Page, chromium, chromium_path
from tests.conftest import loopback_config, prefect_server_process, seeded_prefect_home, toml_sources
from tests.test_alerts import WATCHLISTS, Inbox

ROOT = Path(__file__).resolve().parent.parent
MARK = "bwx"   # every hostile payload names it: an element, attribute, global or dialog carrying it is a leak
LONG = "very long " * 300
# One headline per report of the surge (app.corpus.monitoring_articles' eight `north-*` stories), so they
# reach the new-articles table, the alert-spikes table (first titles) and the alert e-mail.
HOSTILE_TITLES = [
    f'<script>window.{MARK}=1;alert("{MARK}-script")</script>Clash in Zvečan: KFOR deploys',
    f'<img src="http://127.0.0.1:9/{MARK}.png" onerror="alert(\'{MARK}-img\')" class="{MARK}">Shooting in Banjska',
    f'<svg onload="alert(\'{MARK}-svg\')" class="{MARK}"><style>body{{display:none}}</style></svg>Leposavić',
    f"[Zubin Potok: read more](javascript:alert('{MARK}-md')) <a href=\"javascript:alert('{MARK}-a')\">here</a>",
    f"![{MARK}](http://127.0.0.1:9/{MARK}-md.png) Jarinje | injected | cell",
    f"North Mitrovica\r\nBcc: victim@example.org\r\n<b onclick=\"alert('{MARK}-b')\" id=\"{MARK}\">bold</b>",
    f"<iframe src=\"javascript:alert('{MARK}-iframe')\"></iframe>Rudare <a href=\"#\" onmouseover=\"alert(1)\">x</a>",
    f"<img src=x onerror=alert('{MARK}-long')>Brnjak, a 3,000-character headline: {LONG}",
]
HOSTILE_SOURCE = f"Hostile <img src=x onerror=alert('{MARK}-source') class={MARK}> [site](javascript:alert(1))"
UIS = {"ui-v2": "/v2", "ui-v1": ""}   # 3.8.8 serves both; v2 is the default


@dataclass
class Run:
    """What the hostile ingest left behind: the UI's address, its artifacts and the alert e-mail."""

    base: str
    artifacts: list[dict[str, Any]]
    email: EmailMessage

    def artifact(self, key: str) -> dict[str, Any]:
        return next(a for a in self.artifacts if a["key"] == key)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium on PATH: the headless-Chromium checks of the Prefect UI need Debian's `chromium` "
                    "(apt-get install chromium; .ci/run installs it when apt-get can)")
    with chromium(tmp_path_factory.mktemp("chromium") / "profile", exe) as b:
        yield b


@pytest.fixture(scope="module")
def prefect_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`prefect server start` with its UI (the test harness turns the UI off): yields the client environment."""
    home, port = seeded_prefect_home(tmp_path_factory.mktemp("prefect-home")), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"{base}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_API_URL": f"{base}/api",
           "PREFECT_LOGGING_LEVEL": "WARNING"}   # the UI's API URL: its own server's, not the :4200 default
    with prefect_server_process(port, env, home):
        yield {**env, "BASE": base}


@pytest.fixture(scope="module")
def hostile_run(prefect_ui: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The surge corpus with hostile headlines and a failing source with a hostile name, one `balkanwatch
    ingest` (a flow run on the UI's server, its alerts subflow e-mailing a local SMTP server)."""
    from app.corpus import SITES, monitoring_articles, seed_articles, write_site

    root, smtp_port, box = tmp_path_factory.mktemp("hostile-ui"), free_port(), Inbox()
    servers: dict[str, LoopbackServer] = {}
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        for site in SITES:
            (root / site.slug).mkdir()
            servers[site.slug] = LoopbackServer(root / site.slug).start()
        now = datetime.now(UTC).replace(microsecond=0)
        articles = seed_articles(now) + monitoring_articles(now)
        surge = [a for a in articles if a.slug.startswith("north-") and not a.slug.endswith("-copy")]
        assert len(surge) == len(HOSTILE_TITLES)
        for article, title in zip(surge, HOSTILE_TITLES, strict=True):
            article.title = title
        sources = [write_site(s, root / s.slug, servers[s.slug].base, articles) for s in SITES]
        sources.append({"name": HOSTILE_SOURCE, "feed": servers[SITES[0].slug].url("missing.xml")})
        alerts = (f'[alerts]\nemail_to = ["analyst@example.org"]\nemail_from = "balkanwatch@example.org"\n\n'
                  f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 5\n')
        config = root / "balkanwatch.toml"
        config.write_text(loopback_config(alerts + WATCHLISTS + toml_sources(sources)), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "app.cli", "--config", str(config), "ingest", "--json"],
                              env=prefect_ui, cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        summary = json.loads(done.stdout)
        assert summary["sources_failed"] == 1 and summary["alerts"].endswith(", 1 e-mail sent"), summary
    finally:
        controller.stop()
        for s in servers.values():
            s.stop()
    answer = httpx.post(f"{prefect_ui['BASE']}/api/artifacts/filter", json={}, timeout=30)
    answer.raise_for_status()
    assert len(box.messages) == 1
    yield Run(prefect_ui["BASE"], answer.json(), message_from_bytes(box.messages[0][2], policy=policy.default))


# -- what the API and the e-mail carry -----------------------------------------------------------------
def rows(artifact: dict[str, Any]) -> list[dict[str, str]]:
    return json.loads(artifact["data"]) if isinstance(artifact["data"], str) else artifact["data"]


class Markup(HTMLParser):
    """Every start tag of an HTML document with its attributes, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_api_artifacts_and_the_email_carry_no_live_markup(hostile_run: Run) -> None:
    from balkanwatch.escaping import one_line

    for artifact in hostile_run.artifacts:
        if artifact["type"] == "table":
            for value in (v for row in rows(artifact) for v in row.values()):
                assert "<" not in value and ">" not in value and "\n" not in value, (artifact["key"], value[:80])
        else:   # markdown: no raw tag; the only links are the stories' own (http) and the product's inline PNG
            data = artifact["data"]
            assert "<" not in data, artifact["key"]
            targets = [m for m in range(len(data)) if data.startswith("](", m) and data[m - 1:m] != "\\"]
            assert all(data.startswith(("](data:image/png;base64,", "](http://127.0.0.1:"), m) for m in targets), \
                artifact["key"]
    words = hostile_run.artifact("rising-words")["data"]    # the surge
    assert words.count("](http://127.0.0.1:") >= 3 and "[‹img src=x onerror=alert('bwx-long')›Brnjak" in words
    email = hostile_run.email
    assert email["Bcc"] is None and "\n" not in str(email["Subject"]) and "\r" not in str(email["Subject"])
    page = Markup(email.get_body(preferencelist=("html",)).get_content())
    assert {tag for tag, _ in page.tags} <= {"html", "body", "h2", "h3", "ul", "ol", "li", "p", "a", "br", "small", "img"}
    for tag, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on")] and MARK not in attrs.get("class", "") + attrs.get("id", "")
        assert tag != "a" or attrs["href"].startswith("http://127.0.0.1:"), attrs
        assert tag != "img" or attrs["src"].startswith("cid:chart-"), attrs
    text = "".join(page.text)
    plain = email.get_body(preferencelist=("plain",)).get_content()
    for title in HOSTILE_TITLES:          # the headline as text, in both parts
        assert one_line(title)[:60] in text and one_line(title)[:60] in plain, title[:40]


# -- what the UI shows ---------------------------------------------------------------------------------
CONTENT = {   # where each UI puts an artifact's body: the markdown, or the cells of the table
    "ui-v1": ".artifact-data-markdown, .artifact-data-table__cell",
    "ui-v2": "[data-testid=markdown-display], table[data-slot=table] td",
}
READY = {"new-articles": "Shooting in Banjska", "new-stories": "Shooting in Banjska", "source-health": "failing",
         "ingest-summary": "sources polled",
         "alert-spikes": "north-kosovo-clash", "topics": "Unique stories per topic", "alert-chart": "",
         "rising-words": "Rising words"}
SNAPSHOT = """(() => {
  const content = Array.from(document.querySelectorAll(%(content)s));
  const inside = content.flatMap(c => Array.from(c.querySelectorAll('*')));
  const all = Array.from(document.querySelectorAll('*'));
  const html = e => e.outerHTML.slice(0, 200);
  const chart = e => e.localName === 'img' && (e.getAttribute('src') || '').startsWith('data:image/png;base64,');
  const active = ['img', 'svg', 'style', 'script', 'iframe', 'object', 'embed', 'link', 'form', 'input', 'video',
                  'audio', 'math', 'base', 'meta'];
  return {
    text: document.body.innerText,
    content: content.length,
    elements: inside.filter(e => active.includes(e.localName) && !chart(e)).map(html),
    links: inside.filter(e => e.localName === 'a' && !/^https?:\\/\\//i.test(e.getAttribute('href') || '')).map(html),
    javascript: all.filter(e => ['href', 'src', 'action', 'formaction', 'xlink:href', 'data']
                                .some(a => /^\\s*javascript:/i.test(e.getAttribute(a) || ''))).map(html),
    handlers: inside.filter(e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).map(html),
    marked: all.filter(e => (e.id + ' ' + (e.getAttribute('class') || '')).includes(%(mark)s)).map(html),
    scripts: Array.from(document.querySelectorAll('script, style'))
               .filter(e => e.textContent.includes(%(mark)s) || e.textContent.includes('body{display:none}')).map(html),
    global: typeof window[%(mark)s] !== 'undefined',
    charts: Array.from(document.images).filter(chart).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
  };
})()"""


@pytest.fixture(scope="module")
def rendered(hostile_run: Run, browser: Browser):  # type: ignore[no-untyped-def]
    """render(ui, artifact) → what the artifact's page showed once it had loaded (each page opened once)."""
    page, cache = browser.new_page(), {}

    def render(ui: str, artifact: dict[str, Any]) -> dict[str, Any]:
        if (ui, artifact["id"]) not in cache:
            cache[ui, artifact["id"]] = snapshot(browser, page, hostile_run.base + UIS[ui], ui, artifact)
        return cache[ui, artifact["id"]]
    return render


def snapshot(browser: Browser, page: Page, ui_base: str, ui: str, artifact: dict[str, Any]) -> dict[str, Any]:
    """Open the artifact's page, wait for its body (and every image) to load, and take stock of the DOM."""
    page.goto(f"{ui_base}/artifacts/artifact/{artifact['id']}")
    content = json.dumps(CONTENT[ui])
    image = "e.querySelector('img[src^=\"data:image/png\"]')" if artifact["key"] in ("topics", "alert-chart") else "true"
    page.wait_for(f"Array.from(document.querySelectorAll({content})).some(e => e.innerText.includes("
                  f"{json.dumps(READY[artifact['key']])}) && {image})", timeout=30)
    page.wait_for("Array.from(document.images).every(i => i.complete)", timeout=20)
    browser.pump(0.3)    # let a failed image or a script's request show in the network events
    seen = page.evaluate(SNAPSHOT % {"content": content, "mark": json.dumps(MARK)})
    return {**seen, "requests": page.requested(), "dialogs": page.dialogs()}


def cases(keys: tuple[str, ...], marks: dict[tuple[str, str], pytest.MarkDecorator]) -> list[Any]:
    return [pytest.param(ui, key, id=f"{ui}-{key}", marks=[marks[ui, key]] if (ui, key) in marks else [])
            for ui in UIS for key in keys]


@pytest.mark.parametrize(("ui", "key"), cases(("alert-chart", "topics"), {}))
def test_the_charts_render_as_images_in_the_ui(rendered, hostile_run: Run, ui: str, key: str) -> None:
    """The inline PNG of every chart artifact is decoded by the browser at its own size (natural width > 0)."""
    import base64
    import struct

    charts = [a for a in hostile_run.artifacts if a["key"] == key]
    assert charts and (key != "alert-chart" or len(charts) == 2)     # one chart per topic that spiked
    for artifact in charts:
        png = base64.b64decode(artifact["data"].split("data:image/png;base64,", 1)[1].split(")", 1)[0])
        width, height = struct.unpack(">II", png[16:24])
        assert rendered(ui, artifact)["charts"] == [[True, width, height]], artifact["id"]


@pytest.mark.parametrize(("ui", "key"), cases(tuple(READY), {}))
def test_hostile_text_makes_no_live_markup_in_the_ui(rendered, hostile_run: Run, ui: str, key: str) -> None:
    """No element, attribute, link, request, script or dialog comes from a title or a source name."""
    for artifact in (a for a in hostile_run.artifacts if a["key"] == key):
        seen = rendered(ui, artifact)
        assert seen["content"], "the artifact's body was not found on its page"
        leaks = {k: seen[k] for k in ("elements", "links", "javascript", "handlers", "marked", "scripts") if seen[k]}
        assert not leaks and not seen["global"] and not seen["dialogs"], leaks
        # the chart we embed is a data: URL of base64 PNG, where the three letters of MARK turn up by chance
        ours = set(re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", str(artifact["data"])))
        assert not [u for u in seen["requests"] if "127.0.0.1:9/" in u or (MARK in u and u not in ours)]


@pytest.mark.parametrize(("ui", "key"), cases(("new-articles", "source-health", "ingest-summary", "rising-words"), {}))
def test_hostile_text_reads_as_text_in_the_ui(rendered, hostile_run: Run, ui: str, key: str) -> None:
    """What the analyst reads is the title (or source name) itself, on one line, 3,000 characters capped."""
    from balkanwatch.escaping import ZERO_WIDTH_SPACE, cell

    def shown(t: str) -> str:       # what a cell reads as: the text itself, with ‹ › for < > (escaping.cell)
        return cell(t).replace(ZERO_WIDTH_SPACE, "")

    text = rendered(ui, hostile_run.artifact(key))["text"].replace(ZERO_WIDTH_SPACE, "")
    if key == "new-articles":
        for title in HOSTILE_TITLES:
            assert shown(title)[:60] in text, title[:40]
        assert "very long " * 20 in text and "very long " * 30 not in text
    elif key == "source-health":
        assert shown(HOSTILE_SOURCE) in text
    elif key == "rising-words":      # a link's text, as itself in both UIs (‹ › for < >), not its escapes
        from balkanwatch.escaping import link_text

        linked = [t for t in HOSTILE_TITLES if link_text(t)[:40] in text]
        assert len(linked) == 3 and "\\(" not in text and "&lt;" not in text, text[:2000]
    else:
        assert HOSTILE_SOURCE in text


# -- the desk's verdicts from the UI -------------------------------------------------------------------
def _shown(page: Page, expression: str, timeout: float) -> Any:
    """wait_for, where the page may still be swapping its document (an evaluation then throws)."""
    return page.wait_for(f"(() => {{ try {{ return {expression} }} catch (e) {{ return false }} }})()", timeout=timeout)


@pytest.mark.parametrize("ui", list(UIS))
def test_the_desk_s_verdict_forms_render_in_the_ui(browser: Browser, prefect_ui: dict[str, str], tmp_path: Path,
                                                  ui: str) -> None:
    """balkanwatch-rate and balkanwatch-missed, applied to the UI's server as `serve` makes them: the Custom
    run page shows every field with its help from the flows' docstrings, the verdict as a list of useful and
    noise, the time of a missed surge as a date-time picker."""
    config = tmp_path / "balkanwatch.toml"
    config.write_text('[[watchlists]]\nname = "kfor"\nany = ["KFOR"]\n', encoding="utf-8")
    code = ("from balkanwatch.config import load_config\nfrom deployments.serve import build_deployments\n"
            f"deps = {{d.name: d for d in build_deployments(load_config({str(config)!r}))}}\n"
            "print(deps['balkanwatch-rate'].apply(), deps['balkanwatch-missed'].apply())\n")
    done = subprocess.run([sys.executable, "-c", code], env=prefect_ui, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rate_id, missed_id = done.stdout.split()
    page = browser.new_page()
    page.goto(f"{prefect_ui['BASE']}{UIS[ui]}/deployments/deployment/{rate_id}/run")
    text = _shown(page, "document.body.innerText.includes('Only this topic') && document.body.innerText", 60)
    for help_text in ("The incident id of the alert's e-mail", "useful (the surge was news to the desk)",
                      "Why, in a few words", "Only this topic's alerts"):
        assert help_text in text, help_text
    if ui == "ui-v1":     # a native <select>
        options = page.evaluate("Array.from(document.querySelectorAll('select')).map(s => Array.from(s.options).map(o => o.value))")
    else:                 # a button that opens a list
        page.evaluate("Array.from(document.querySelectorAll('button')).find(b => b.innerText.trim() === 'Select').click()")
        options = [_shown(page, "Array.from(document.querySelectorAll('[role=option]')).map(o => o.innerText)", 10)]
    assert ["useful", "noise"] in options, options
    page.goto(f"{prefect_ui['BASE']}{UIS[ui]}/deployments/deployment/{missed_id}/run")
    text = _shown(page, "document.body.innerText.includes('When the surge') && document.body.innerText", 60)
    assert "The watchlist that should have alerted." in text and "When the surge was" in text
    zones = page.evaluate("Array.from(document.querySelectorAll('select')).map(s => s.options.length ? s.options[0].value : '')")
    assert "MM/DD/YYYY" in text if ui == "ui-v2" else "UTC" in zones, (text[:1500], zones)   # a date and a time zone
