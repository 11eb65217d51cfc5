"""A synthetic corpus for per-source template learning (issue #17): several sites × many pages, known text.

WCXB dev has about one page per site, so it cannot show what a source's template teaches. Here each site
is a template drawn from a seeded generator: navigation, breadcrumbs, a byline, a lead picture with a
caption, a share bar, the article body (in one container, or split across two with an advert between, or
with its last paragraphs in a differently named "more" container), a "read also" teaser list inside the
body, a newsletter box, tags, related-article cards with teaser sentences, an author box, comments, a
"most read" sidebar and a footer. Half of the sites use readable class names ("entry-content",
"comments"), half opaque generated ones ("css-1q2w3e"), as sites built with CSS-in-JS do, so an
extractor's class-name rules cannot tell chrome from article there. Article bodies are WCXB dev ground-truth
texts (`main_content`, CC-BY-4.0); teasers, captions and comments are sentences of other dev texts. The
known article text of a page is its body paragraphs, nothing else.
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass, replace

from bench.data import LabelledPage

MIN_BODY_PARAGRAPHS = 4    # dev texts used as bodies: at least this many paragraphs …
MIN_BODY_WORDS = 150       # … and words (a template needs something to hold)
MAX_BODY_PARAGRAPHS = 30   # longer texts are cut (pages stay page-sized)
INLINE_LINKS = 0.25        # share of body paragraphs with an inline link over a few of their words (real articles
                           # link sources and earlier stories; without them no body location has link text)
OTHER_LAYOUT = 0.1         # share of a site's pages on another layout (a gallery page: its own body container)

_READABLE = {
    "header": ["site-header", "masthead", "top-bar"], "nav": ["main-nav", "menu-primary", "navigation"],
    "crumbs": ["breadcrumbs", "breadcrumb", "crumbs"], "byline": ["byline", "meta-author", "post-meta"],
    "figure": ["lead-image", "featured-image", "hero"], "share": ["share-bar", "social-share", "sharing"],
    "body": ["entry-content", "article-body", "story-text", "post-content"],
    "more": ["article-more", "continued", "story-rest"], "ad": ["ad-slot", "advert", "dfp-ad"],
    "teaser": ["inline-related", "read-also", "see-also"], "newsletter": ["newsletter", "signup-box", "nl-cta"],
    "tags": ["tags", "post-tags", "topics"], "related": ["related-posts", "more-stories", "related"],
    "card": ["card", "teaser", "story-card"], "bio": ["author-bio", "about-author", "author-box"],
    "comments": ["comments", "comment-list", "discussion"], "comment": ["comment", "comment-body", "reply"],
    "sidebar": ["sidebar", "widget-area", "aside-popular"], "footer": ["site-footer", "footer", "colophon"],
}
_ROLES = list(_READABLE)


@dataclass(frozen=True)
class SiteTemplate:
    """One site's page template: class names per role and which parts it has."""

    name: str
    names: dict[str, str]      # role → class name
    split: str                 # one | ad | more: how the body is laid out
    parts: frozenset[str]      # optional parts present on the site's pages
    authors: tuple[str, ...]


@dataclass(frozen=True)
class SyntheticPage:
    site: str
    url: str
    html: bytes
    text: str                  # the article text (ground truth)


def _opaque(rng: random.Random) -> str:
    return "css-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))


def site_template(index: int, seed: int) -> SiteTemplate:
    """The template of site number `index`: odd sites get opaque class names."""
    rng = random.Random(seed * 1000 + index)
    opaque = index % 2 == 1
    names = {role: _opaque(rng) if opaque else rng.choice(options) for role, options in _READABLE.items()}
    optional = ["crumbs", "figure", "share", "teaser", "newsletter", "tags", "related", "bio", "comments", "sidebar"]
    parts = frozenset(p for p in optional if rng.random() < 0.7)
    authors = tuple(f"{rng.choice(['Ana', 'Marko', 'Elira', 'Jon', 'Sara', 'Luka'])} "
                    f"{rng.choice(['Petrović', 'Krasniqi', 'Hodžić', 'Novak', 'Berisha', 'Smith'])}" for _ in range(3))
    return SiteTemplate(f"site{index}", names, rng.choice(["one", "ad", "more"]), parts, authors)


_WORDLIKE = re.compile(r"\w\w")


def bodies(pages: list[LabelledPage]) -> list[tuple[str, list[str]]]:
    """Usable (title, paragraphs) from dev ground truth: texts long enough to hold a template (paragraphs
    without a word, such as stray zero-width characters, left out)."""
    out = []
    for page in pages:
        paras = [p.strip() for p in page.main_content.split("\n") if _WORDLIKE.search(p)]
        if len(paras) >= MIN_BODY_PARAGRAPHS and len(" ".join(paras).split()) >= MIN_BODY_WORDS:
            out.append((page.title or " ".join(paras[0].split()[:8]), paras[:MAX_BODY_PARAGRAPHS]))
    return out


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _sentences(paras: list[str]) -> list[str]:
    return [s for p in paras for s in _SENTENCE.split(p) if 6 <= len(s.split()) <= 40]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _linked(paragraph: str, rng: random.Random) -> str:
    """The paragraph escaped, with a link over 2–5 of its words on INLINE_LINKS of the paragraphs."""
    words = paragraph.split(" ")
    if rng.random() >= INLINE_LINKS or len(words) < 8:
        return _e(paragraph)
    k = rng.randint(2, 5)
    i = rng.randrange(len(words) - k)
    return " ".join([_e(" ".join(words[:i])), f'<a href="/a/{rng.randint(1, 9999)}">{_e(" ".join(words[i:i + k]))}</a>',
                     _e(" ".join(words[i + k:]))]).strip()


def render(t: SiteTemplate, body: list[str], title: str, rng: random.Random, pool: list[str], url: str) -> str:
    """One page of site `t` holding `body` as its article text; chrome sentences drawn from `pool`."""
    n = t.names
    pick = lambda k: [rng.choice(pool) for _ in range(k)]  # noqa: E731
    short = lambda s: " ".join(s.split()[:rng.randint(5, 10)])  # noqa: E731
    sections = ["News", "Politics", "Business", "Culture", "Sport", "Opinion", "World", "Video"]
    nav = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in sections)
    chunks = [f"<p>{_linked(p, rng)}</p>" for p in body]
    if "teaser" in t.parts and len(chunks) > 3:
        items = "".join(f'<li><a href="/x/{rng.randint(1, 9999)}">{_e(short(s))}</a></li>' for s in pick(3))
        chunks.insert(2, f'<div class="{n["teaser"]}"><strong>Read also</strong><ul>{items}</ul></div>')
    cut = max(2, len(chunks) * 2 // 3)
    if t.split == "ad":
        main = (f'<div class="{n["body"]}">{"".join(chunks[:cut])}</div><div class="{n["ad"]}">Advertisement</div>'
                f'<div class="{n["body"]}">{"".join(chunks[cut:])}</div>')
    elif t.split == "more":
        main = (f'<div class="{n["body"]}">{"".join(chunks[:cut])}</div>'
                f'<div class="{n["more"]}">{"".join(chunks[cut:])}</div>')
    else:
        main = f'<div class="{n["body"]}">{"".join(chunks)}</div>'
    author = rng.choice(t.authors)
    parts = {
        "crumbs": f'<div class="{n["crumbs"]}"><a href="/">Home</a> › <a href="/news/">News</a></div>',
        "figure": (f'<figure class="{n["figure"]}"><img src="/img/{rng.randint(1, 999)}.jpg" alt="">'
                   f'<figcaption>{_e(rng.choice(pool))} Photo: {_e(author)}</figcaption></figure>'),
        "share": (f'<ul class="{n["share"]}"><li><a href="#">Facebook</a></li><li><a href="#">X</a></li>'
                  '<li><a href="#">WhatsApp</a></li><li><a href="#">Email</a></li></ul>'),
        "newsletter": (f'<div class="{n["newsletter"]}"><p>Get the morning briefing: the stories that matter, '
                       'in your inbox before breakfast. No spam, unsubscribe at any time.</p>'
                       '<form><input type="email" placeholder="Your e-mail"><button>Sign up</button></form></div>'),
        "tags": f'<ul class="{n["tags"]}">' + "".join(f'<li><a href="/tag/{w}">{w}</a></li>' for w in
                                                        {s.split()[0].lower() for s in pick(4)}) + "</ul>",
        "related": f'<section class="{n["related"]}"><h3>Related stories</h3>' + "".join(
            f'<div class="{n["card"]}"><h4><a href="/r/{rng.randint(1, 9999)}">{_e(short(s))}</a></h4>'
            f'<p>{_e(s2)}</p></div>' for s, s2 in zip(pick(4), pick(4), strict=True)) + "</section>",
        "bio": (f'<div class="{n["bio"]}"><p>{_e(author)} is a reporter covering politics and the region. '
                f'Write to {_e(author.split()[0].lower())}@example.org.</p></div>'),
        "comments": f'<section class="{n["comments"]}"><h3>Comments</h3>' + "".join(
            f'<div class="{n["comment"]}"><b>{_e(rng.choice(t.authors).split()[0])}{rng.randint(1, 99)}</b>'
            f'<p>{_e(s)}</p></div>' for s in pick(rng.randint(0, 5))) + "</section>",
        "sidebar": f'<aside class="{n["sidebar"]}"><h3>Most read</h3><ol>' + "".join(
            f'<li><a href="/m/{rng.randint(1, 9999)}">{_e(short(s))}</a></li>' for s in pick(5)) + "</ol></aside>",
    }
    has = lambda k: parts[k] if k in t.parts else ""  # noqa: E731
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)} | {t.name}</title></head>
<body><header class="{n["header"]}"><a href="/">{t.name.title()} News</a><nav class="{n["nav"]}"><ul>{nav}</ul></nav></header>
<main>{has("crumbs")}<article><h1>{_e(title)}</h1>
<div class="{n["byline"]}">By {_e(author)} · {rng.randint(1, 28)} May 2025</div>
{has("figure")}{has("share")}{main}{has("newsletter")}{has("tags")}{has("bio")}</article>
{has("related")}{has("comments")}</main>{has("sidebar")}
<footer class="{n["footer"]}"><p>© 2025 {t.name.title()} News. All rights reserved.</p>
<p><a href="/privacy">Privacy</a> · <a href="/terms">Terms</a> · <a href="/contact">Contact</a></p></footer>
</body></html>"""


def corpus(dev: list[LabelledPage], sites: int, pages: int, seed: int = 17) -> list[list[SyntheticPage]]:
    """`sites` sites of `pages` pages each; every page's body is a different dev text."""
    texts = bodies(dev)
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    pool = _sentences([p for _, t in texts for p in t])
    out = []
    for s in range(sites):
        t = site_template(s, seed)
        site_pages = []
        for k in range(pages):
            title, body = texts[order[(s * pages + k) % len(order)]]
            url = f"https://{t.name}.example/news/{k}"
            other = rng.random() < OTHER_LAYOUT
            page = render(replace(t, names=t.names | {"body": "gallery-text"}, split="one") if other else t,
                          body, title, rng, pool, url)
            site_pages.append(SyntheticPage(t.name, url, page.encode(), "\n".join(body)))
        out.append(site_pages)
    return out
