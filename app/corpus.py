"""The offline corpus: the seed articles turned into four realistic news sites with feeds.

Each site has its own page template (navigation, sidebars, share blurbs, "Read More:" lines, newsletter
footers), its own listing format (RSS 2.0, Atom, RSS 1.0/RDF, news sitemap) and, for one of them,
windows-1250 pages. Wire stories are syndicated across sites with new headlines, datelines and trimmed
endings, as Balkan outlets do. Used by `make demo`, the tests and the benchmarks.
"""

from __future__ import annotations

import html
import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

SEEDS_DIR_ENV = "BALKANWATCH_SEEDS"


def seeds_dir() -> Path:
    """../shared/seeds beside the checkout (override with $BALKANWATCH_SEEDS)."""
    if os.environ.get(SEEDS_DIR_ENV):
        return Path(os.environ[SEEDS_DIR_ENV])
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "shared" / "seeds", here / "shared" / "seeds"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("seed articles not found: expected ../shared/seeds beside the checkout "
                            f"(or set ${SEEDS_DIR_ENV})")


@dataclass(frozen=True)
class Site:
    slug: str
    name: str
    listing: str           # rss | atom | rdf | sitemap
    encoding: str = "utf-8"
    boilerplate: tuple[str, ...] = ()


SITES = (
    Site("kosovo-herald", "Kosovo Herald", "rss",
         boilerplate=("Subscribe to get the latest posts sent to your email.",)),
    Site("balkan-wire", "Balkan Wire", "atom",
         boilerplate=("Share this story: Facebook · X · Telegram · Email",
                      "Support independent journalism in the Balkans: donate today.")),
    Site("adriatic-times", "Adriatic Times", "rdf", encoding="windows-1250"),
    Site("sarajevo-daily", "Sarajevo Daily", "sitemap",
         boilerplate=("Follow Sarajevo Daily on Telegram for breaking news from the region.",)),
)


@dataclass
class Article:
    site: str
    slug: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]
    story: str                        # label: copies of one story share it (ground truth for dedupe tests)
    lang: str = "en"
    read_more: list[str] = field(default_factory=list)


# Titles and placement of the five seeds (the seed files carry no reliable headline of their own).
SEED_PLAN = {
    "000": ("kosovo-herald", "Türkiye resumes command of KFOR at a pivotal moment for the Balkans", "Selin Aydın", 9.0),
    "001": ("balkan-wire", "Turkey Takes Over NATO Kosovo Mission as Serbia Tensions Bubble", "Misha Savic", 6.0),
    "002": ("adriatic-times", "NATO will not allow a security vacuum in the Balkans, KFOR remains strong", "Ana Kovač", 3.0),
    "003": ("sarajevo-daily", "The strengthening of cooperation between Turkey and Kosovo: what are Ankara's interests?", "Kosovo Online", 2.0),
    "004": ("balkan-wire", "Türkiye and Serbia deepen defence ties as Balkan tensions simmer", "Anadolu", 1.0),
}
SEED_HEADER_LINES = {"The Balkan Report", "Truth Matters.", "Turska - Kosovo - Ilustracija"}

LOCAL_ARTICLE = [  # an original short report in Serbian Latin, for the windows-1250 site
    "KFOR je pojačao patrole u Zvečanu i Zubinom Potoku nakon noćnog incidenta na severu Kosova, saopštila je komanda mirovnih snaga.",
    "Prema rečima portparola, vojnici su raspoređeni na ključnim raskrsnicama, a saradnja sa Kosovskom policijom i EULEX-om je nastavljena bez zastoja.",
    "Stanovnici Severne Mitrovice kažu da je situacija mirna, ali da su zabrinuti zbog čestih kontrola i zatvaranja prelaza Jarinje.",
    "Komandant KFOR-a poručio je da će misija ostati nepristrasna i da će reagovati odlučno na svaki pokušaj destabilizacije.",
]


_LAT2CYR = [("dž", "џ"), ("lj", "љ"), ("nj", "њ"), ("đ", "ђ"), ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"),
            ("d", "д"), ("e", "е"), ("ž", "ж"), ("z", "з"), ("i", "и"), ("j", "ј"), ("k", "к"), ("l", "л"),
            ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("ć", "ћ"),
            ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "ц"), ("č", "ч"), ("š", "ш")]


def to_cyrillic(text: str) -> str:
    """Serbian Latin → Cyrillic, letter by letter (digraphs first); for building Cyrillic copies."""
    out = []
    for word in re.split(r"(\W+)", text):
        upper = word.isupper() and len(word) > 1
        w = word.lower()
        for lat, cyr in _LAT2CYR:
            w = w.replace(lat, cyr)
        out.append(w.upper() if upper else (w[:1].upper() + w[1:] if word[:1].isupper() else w))
    return "".join(out)


def _seed_paragraphs(text: str, title: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and ln not in SEED_HEADER_LINES and ln != title and not ln.startswith("Source: Kosovo online")]


def seed_articles(now: datetime, seeds: Path | None = None) -> list[Article]:
    """Originals from the seeds plus their syndicated copies, dated relative to `now`."""
    folder = seeds or seeds_dir()
    out: list[Article] = []
    for path in sorted(folder.glob("*.txt")):
        key = path.name[:3]
        site, title, author, days = SEED_PLAN[key]
        paras = _seed_paragraphs(path.read_text(encoding="utf-8"), title)
        if paras and paras[0] == title:
            paras = paras[1:]
        out.append(Article(site, f"seed-{key}", title, author, now - timedelta(days=days), paras, story=f"seed-{key}"))
    by_story = {a.story: a for a in out}
    wire = by_story["seed-001"]
    out.append(Article("kosovo-herald", "turkey-to-lead-kfor", "Türkiye to lead KFOR as Serbia–Kosovo tensions rise",
                       "Herald staff", wire.published + timedelta(hours=2),
                       ["PRISTINA — " + wire.paragraphs[1]] + wire.paragraphs[2:-3], story=wire.story))
    out.append(Article("sarajevo-daily", "nato-kosovo-mission-turkey", "NATO hands Kosovo mission to Ankara",
                       "Agencies", wire.published + timedelta(hours=5),
                       wire.paragraphs[1: max(4, int(len(wire.paragraphs) * 0.6))], story=wire.story))
    kosovo = by_story["seed-003"]
    out.append(Article("balkan-wire", "ankara-interests-western-balkans", "What Ankara wants in the Western Balkans",
                       "Balkan Wire", kosovo.published + timedelta(hours=3), kosovo.paragraphs[:-4], story=kosovo.story))
    out.append(Article("adriatic-times", "kfor-pojacao-patrole", "KFOR pojačao patrole na severu Kosova", "Dopisnik",
                       now - timedelta(hours=12), LOCAL_ARTICLE, story="local-kfor-patrols", lang="sr"))
    out.append(Article("sarajevo-daily", "kfor-patrole-sever", to_cyrillic("KFOR pojačao patrole na severu Kosova"),
                       to_cyrillic("Dopisnik"), now - timedelta(hours=9), [to_cyrillic(p) for p in LOCAL_ARTICLE],
                       story="local-kfor-patrols", lang="sr"))
    for art in out:
        art.read_more = [o.title for o in out if o.site == art.site and o is not art][:2]
    return out


# -- a month of coverage with a surge at the end (alerts demo and tests) ---------------------------------

_PEOPLE = ["Albin Kurti", "Aleksandar Vučić", "Vjosa Osmani", "Petar Petković", "Miroslav Lajčák", "Mark Rutte",
           "Goran Rakić", "Donika Gërvalla", "Marko Đurić", "Özden Ürün"]
_PLACES = ["Pristina", "Belgrade", "Brussels", "Skopje", "Podgorica", "Prizren", "Peja", "Gjilan", "Novi Pazar",
           "Tirana", "Ankara", "Gračanica"]
_ROUTINE = ["energy prices", "the dialogue on licence plates", "a new highway tender", "municipal budgets",
            "the EU visa regime", "teacher salaries", "the census results", "a dispute over water supply",
            "the association of Serb-majority municipalities", "customs rules on goods from Serbia",
            "a football federation row", "new rules for foreign investors"]
_VERBS = ["met officials to discuss", "criticised the handling of", "announced talks on", "called for progress on",
          "warned about delays in", "presented a plan on", "questioned the costs of", "welcomed an agreement on"]
_CLASH = ["clash", "shooting", "exchange of fire", "armed clash"]
# Each site writes the surge in its own words (as outlets do): what its reports share is the event (the Ibar
# valley, KFOR, Kosovo: every lead names it, as the topics' terms need), not one template's function words,
# which would all rise together ("were", "after", "early").
_SURGE_LEADS = [
    "KFOR troops were deployed to {village} in the Ibar valley after {a_kind} between armed men and Kosovo police.",
    "Kosovo police asked KFOR for support in {village}, in the Ibar valley, where {a_kind} broke out overnight.",
    "NATO-led KFOR sent patrols into the Ibar valley of northern Kosovo following {a_kind} near {village}.",
    "Residents of {village} in the Ibar valley, northern Kosovo, described {a_kind} that brought KFOR soldiers out.",
]


def _sentences(rng: random.Random, n: int, *, subject: str, place: str) -> list[str]:
    out = []
    for _ in range(n):
        who, what, verb = rng.choice(_PEOPLE), rng.choice(_ROUTINE), rng.choice(_VERBS)
        out.append(f"{who} {verb} {what} in {rng.choice(_PLACES)} on {subject} ({rng.randint(2, 97)} participants, "
                   f"{rng.choice(['morning', 'afternoon', 'evening'])} session near {place}).")
    return out


def _report(rng: random.Random, lead: str, subject: str, place: str) -> list[str]:
    paragraphs = [lead]
    for _ in range(4):
        paragraphs.append(" ".join(_sentences(rng, 3, subject=subject, place=place)))
    return paragraphs


def monitoring_articles(now: datetime, seed: int = 2026) -> list[Article]:
    """Four weeks of routine Kosovo coverage (two stories a day, a rare incident report), then a surge in
    the last two hours: eight different reports of clashes in the Ibar valley (northern Kosovo) on four sites, two of them
    syndicated again (copies count once). Dates are relative to `now`, so an ingest sees the surge as new."""
    rng = random.Random(seed)
    sites = [site.slug for site in SITES]
    out: list[Article] = []
    for day in range(28, 0, -1):
        for k in range(2):
            when = now - timedelta(days=day, hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
            topic = rng.choice(_ROUTINE)
            lead = f"{rng.choice(_PEOPLE)} discussed {topic} with officials from Kosovo and Serbia on day {29 - day}."
            out.append(Article(sites[(day + k) % 4], f"routine-{day}-{k}", f"Talks on {topic} continue ({29 - day})",
                               "Staff", when, _report(rng, lead, topic, rng.choice(_PLACES)), story=f"routine-{day}-{k}"))
        if day % 9 == 0:
            when = now - timedelta(days=day, hours=3)
            lead = f"Police in Kosovo reported a brief clash between two families near Peja on day {29 - day}; nobody was hurt."
            out.append(Article(sites[day % 4], f"incident-{day}", f"Family dispute near Peja ({29 - day})", "Staff",
                               when, _report(rng, lead, "a family dispute", "Peja"), story=f"incident-{day}"))
    villages = ["Zvečan", "Banjska", "Leposavić", "Zubin Potok", "Jarinje", "North Mitrovica", "Rudare", "Brnjak"]
    for i, village in enumerate(villages):
        when = now - timedelta(minutes=110 - 13 * i)
        kind = _CLASH[i % len(_CLASH)]
        a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        lead = _SURGE_LEADS[i % len(_SURGE_LEADS)].format(village=village, a_kind=a_kind, kind=kind)
        art = Article(sites[i % 4], f"north-{i}", f"{kind.capitalize()} in {village}: KFOR troops sent to the Ibar valley",
                      "Correspondent", when, _report(rng, lead, f"the {kind} in {village}", village), story=f"north-{i}")
        out.append(art)
        if i in (0, 3):
            out.append(Article(sites[(i + 1) % 4], f"north-{i}-copy", f"{village}: {kind} in northern Kosovo (agencies)",
                               "Agencies", when + timedelta(minutes=20), art.paragraphs[:-1], story=art.story))
    return out


# -- rendering ------------------------------------------------------------------------------------------
def _e(s: str) -> str:
    return html.escape(s, quote=True)


READ_MORE = "Read More: "


def page_html(site: Site, art: Article, url: str, others: list[tuple[str, str]]) -> str:
    """One article page on the site's template, with the chrome an extractor must get rid of."""
    nav = "".join(f'<li><a href="{_e(u)}">{_e(t)}</a></li>' for t, u in others[:6])
    body = []
    for i, p in enumerate(art.paragraphs):
        if p.startswith(READ_MORE):   # a seed's inline "Read More: <headline>" is a link, as on the web
            body.append(f'<p><strong>{READ_MORE.strip()}</strong> <a href="#">{_e(p[len(READ_MORE):])}</a></p>')
        else:
            body.append(f"<p>{_e(p)}</p>")
        if site.slug == "balkan-wire" and i == 2 and art.read_more:
            body.append(f'<p class="read-more"><strong>Read More:</strong> <a href="#">{_e(art.read_more[0])}</a></p>')
    blurbs = "".join(f'<p class="blurb">{_e(b)}</p>' for b in site.boilerplate)
    iso = art.published.isoformat(timespec="seconds")
    charset = site.encoding
    return f"""<!DOCTYPE html>
<html lang="{art.lang}"><head><meta charset="{charset}">
<title>{_e(art.title)} | {_e(site.name)}</title>
<link rel="canonical" href="{_e(url)}">
<meta name="author" content="{_e(art.author)}">
<meta property="og:title" content="{_e(art.title)}"><meta property="og:site_name" content="{_e(site.name)}">
<meta property="article:published_time" content="{iso}">
</head><body>
<header class="site-header"><a class="logo" href="/">{_e(site.name)}</a>
<nav><ul><li><a href="/">Home</a></li><li><a href="/politics/">Politics</a></li><li><a href="/region/">Region</a></li>
<li><a href="/opinion/">Opinion</a></li><li><a href="/about/">About us</a></li></ul></nav></header>
<main><article class="post">
<h1 class="entry-title">{_e(art.title)}</h1>
<div class="byline">By <span class="author">{_e(art.author)}</span> · <time datetime="{iso}">{art.published:%d %B %Y %H:%M}</time></div>
<div class="entry-content">
{chr(10).join(body)}
{blurbs}
</div></article>
<aside class="sidebar"><h3>Most read</h3><ul>{nav}</ul></aside></main>
<footer><p>© {art.published.year} {_e(site.name)}. All rights reserved.</p>
<p><a href="/privacy/">Privacy</a> · <a href="/contact/">Contact</a> · <a href="/advertise/">Advertise</a></p></footer>
</body></html>
"""


def rss(site: Site, base: str, items: list[tuple[Article, str]]) -> str:
    entries = "".join(
        f"""<item><title>{_e(a.title)}</title><link>{_e(u)}</link><guid isPermaLink="false">{site.slug}-{a.slug}</guid>
<pubDate>{format_datetime(a.published)}</pubDate><dc:creator>{_e(a.author)}</dc:creator>
<description>{_e(a.paragraphs[0][:200])}</description></item>""" for a, u in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{_e(site.name)}</title>
<link>{base}/</link><description>News from {_e(site.name)}</description>{entries}</channel></rss>
"""


def atom(site: Site, base: str, items: list[tuple[Article, str]]) -> str:
    entries = "".join(
        f"""<entry><title>{_e(a.title)}</title><link rel="alternate" href="{_e(u)}"/><id>tag:{site.slug},{a.slug}</id>
<published>{a.published.isoformat(timespec="seconds")}</published><updated>{a.published.isoformat(timespec="seconds")}</updated>
<author><name>{_e(a.author)}</name></author><summary>{_e(a.paragraphs[0][:200])}</summary></entry>""" for a, u in items)
    updated = max(a.published for a, _ in items).isoformat(timespec="seconds")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{_e(site.name)}</title><id>{base}/</id>
<updated>{updated}</updated><link href="{base}/"/>{entries}</feed>
"""


def rdf(site: Site, base: str, items: list[tuple[Article, str]]) -> str:
    seq = "".join(f'<rdf:li rdf:resource="{_e(u)}"/>' for _, u in items)
    entries = "".join(
        f"""<item rdf:about="{_e(u)}"><title>{_e(a.title)}</title><link>{_e(u)}</link>
<dc:date>{a.published.isoformat(timespec="seconds")}</dc:date><dc:creator>{_e(a.author)}</dc:creator></item>""" for a, u in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="{base}/"><title>{_e(site.name)}</title>
<link>{base}/</link><description>{_e(site.name)}</description><items><rdf:Seq>{seq}</rdf:Seq></items></channel>
{entries}</rdf:RDF>
"""


def news_sitemap(site: Site, items: list[tuple[Article, str]]) -> str:
    urls = "".join(
        f"""<url><loc>{_e(u)}</loc><news:news><news:publication><news:name>{_e(site.name)}</news:name>
<news:language>{a.lang}</news:language></news:publication><news:publication_date>{a.published.isoformat(timespec="seconds")}</news:publication_date>
<news:title>{_e(a.title)}</news:title></news:news></url>""" for a, u in items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>
"""


LISTING_FILE = {"rss": "feed.xml", "atom": "atom.xml", "rdf": "index.rdf", "sitemap": "news-sitemap.xml"}


def write_site(site: Site, root: Path, base: str, articles: list[Article]) -> dict[str, object]:
    """Write one site's pages, listing, robots.txt and header overrides; returns its [[sources]] entry."""
    root.mkdir(parents=True, exist_ok=True)
    mine = sorted((a for a in articles if a.site == site.slug), key=lambda a: a.published, reverse=True)
    items = [(a, f"{base}/news/{a.slug}.html") for a in mine]
    others = [(a.title, u) for a, u in items]
    (root / "news").mkdir(exist_ok=True)
    overrides: dict[str, dict[str, str]] = {}
    for a, url in items:
        page = page_html(site, a, url, [o for o in others if o[1] != url])
        target = root / "news" / f"{a.slug}.html"
        target.write_bytes(page.encode(site.encoding, errors="xmlcharrefreplace"))
        ts = a.published.timestamp()
        os.utime(target, (ts, ts))
        if site.encoding != "utf-8":
            overrides[f"/news/{a.slug}.html"] = {"Content-Type": f"text/html; charset={site.encoding}"}
    render: Callable[[], str] = {
        "rss": lambda: rss(site, base, items), "atom": lambda: atom(site, base, items),
        "rdf": lambda: rdf(site, base, items), "sitemap": lambda: news_sitemap(site, items)}[site.listing]
    listing = root / LISTING_FILE[site.listing]
    listing.write_text(render(), encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
    (root / "_headers.json").write_text(json.dumps(overrides), encoding="utf-8")
    key = "sitemap" if site.listing == "sitemap" else "feed"
    return {"name": site.name, key: f"{base}/{LISTING_FILE[site.listing]}", "language": "en"}


def build_corpus(root: Path, bases: dict[str, str], now: datetime | None = None,
                 seeds: Path | None = None, monitoring: bool = False) -> tuple[list[dict[str, object]], list[Article]]:
    """Write every site under root/<slug>; returns ([[sources]] entries, the articles with story labels).

    `monitoring` adds a month of routine coverage and a surge at the end (`monitoring_articles`)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    articles = seed_articles(now, seeds) + (monitoring_articles(now) if monitoring else [])
    sources = [write_site(site, root / site.slug, bases[site.slug], articles) for site in SITES]
    return sources, articles


# -- an official page without a feed (a listing source) -------------------------------------------------
OFFICIAL = Site("kfor-press", "KFOR press releases", "listing")
OFFICIAL_LISTING = "media-center/news.html"
_RELEASES = [
    ("kfor-commander-meets-mayors-of-the-north", "KFOR Commander meets the mayors of the northern municipalities"),
    ("joint-exercise-with-kosovo-police-and-eulex", "KFOR, Kosovo Police and EULEX hold a joint crowd-control exercise"),
    ("kfor-hands-over-medical-equipment-in-gracanica", "KFOR hands over medical equipment to the Gračanica health centre"),
    ("patrols-continue-along-the-administrative-boundary", "Patrols continue along the Administrative Boundary Line"),
    ("kfor-statement-on-freedom-of-movement", "KFOR statement on freedom of movement in northern Kosovo"),
]


def official_articles(now: datetime) -> list[Article]:
    """Five KFOR press releases, one every few days over the last two weeks (routine, not part of a surge)."""
    rng = random.Random(1999)                       # KFOR's first year; any fixed seed keeps the demo stable
    out = []
    for i, (slug, title) in enumerate(_RELEASES):
        lead = f"{title}, the KFOR Public Affairs Office said in a press release on day {i + 1} of the fortnight."
        place = rng.choice(_PLACES)
        out.append(Article(OFFICIAL.slug, slug, title, "KFOR Public Affairs Office",
                           now - timedelta(days=13 - 3 * i, hours=6), _report(rng, lead, title.lower(), place),
                           story=f"release-{i}"))
    return out


def listing_html(items: list[tuple[Article, str]]) -> str:
    """A news page as official sites publish one: article cards among menus, tags, pagination and footer."""
    cards = "".join(f'<article class="news-card"><h2><a href="{_e(u)}">{_e(a.title)}</a></h2>'
                    f'<time>{a.published:%d %B %Y}</time><p>{_e(a.paragraphs[0][:140])}…</p>'
                    f'<a class="tag" href="/tags/press-release">Press release</a></article>' for a, u in items)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>News | KFOR</title></head><body>
<header><a href="/">NATO Mission in Kosovo</a><nav class="main-menu"><a href="/about/">About KFOR</a>
<a href="/media-center/">Media center</a><a href="/media-center/news/2026/menu-highlight.html">Highlight</a></nav></header>
<div class="breadcrumbs"><a href="/">Home</a> › <a href="/media-center/">Media center</a></div>
<main><h1>News</h1>{cards}
<div class="pagination"><a href="/media-center/news.html?page=2">2</a><a href="/media-center/news.html?page=3">3</a></div>
</main>
<footer><a href="/privacy/">Privacy</a> · <a href="/contact/">Contact</a> · <a href="https://x.com/NATO_KFOR">X</a></footer>
</body></html>
"""


def write_official_site(root: Path, base: str, now: datetime | None = None) -> tuple[dict[str, object], list[Article]]:
    """KFOR's press releases with no feed, only a news page listing them; returns ([[sources]] entry, articles)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    arts = sorted(official_articles(now), key=lambda a: a.published, reverse=True)
    items = [(a, f"{base}/media-center/news/2026/{a.slug}.html") for a in arts]
    (root / "media-center" / "news" / "2026").mkdir(parents=True, exist_ok=True)
    for a, url in items:
        target = root / "media-center" / "news" / "2026" / f"{a.slug}.html"
        target.write_text(page_html(OFFICIAL, a, url, []), encoding="utf-8")
    (root / OFFICIAL_LISTING).write_text(listing_html(items), encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
    return ({"name": OFFICIAL.name, "listing": f"{base}/{OFFICIAL_LISTING}", "country": "XK", "kind": "official",
             "language": "en"}, arts)
