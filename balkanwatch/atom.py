"""Atom 1.0 feeds (RFC 4287) of unique stories, for an analyst's feed reader. Pure: rows in, bytes out.

An analyst who follows a topic in a feed reader wants each story once, not the twenty sites that carry
one wire story: an entry is a story (`stories`), linked to the site that had it first, with the topic
names as categories and what the story is in a plain-text summary (its excerpt, how many sites carry
it). Everything in an entry comes from scraped pages, so it goes in as text: ElementTree escapes `<` and
`&`, `xml_text` drops the characters XML 1.0 cannot carry at all (NUL, most C0 controls, lone
surrogates), links are http(s) only, and summaries are `type="text"`, so no reader renders a page's
markup. The same rows give the same bytes (the feed's `updated` is its newest story's time), so a run
that brought nothing new leaves a feed file as it was.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from balkanwatch.emails import subject_words
from balkanwatch.escaping import safe_url

ATOM = "http://www.w3.org/2005/Atom"

SUMMARY_CHARS = 500       # of the story's text in an entry's summary: a reader's preview, not the article
SOURCES_NAMED = 10        # sources named in a summary; more are counted ("and 12 more")
EMPTY_UPDATED = datetime(1970, 1, 1)   # a feed with no story yet: a fixed time, so its bytes stay the same

# Characters XML 1.0 does not allow in a document at all, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: object) -> str:
    """Text an XML 1.0 document can carry: the characters it forbids outright are dropped."""
    return _NOT_XML.sub("", "" if text is None else str(text))


def _time(when: datetime) -> str:
    """RFC 3339 in UTC (a naive time is the warehouse's UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Entry:
    """One story as a feed entry."""
    story_id: str
    title: str
    url: str
    first_seen: datetime
    author: str
    topics: tuple[str, ...]
    summary: str
    urn: str = ""             # the entry's id when it is not a story's (an alert's incident)


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a space, with … when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[:limit]
    return (head.rsplit(" ", 1)[0] if " " in head else head).rstrip(" ,;:") + " …"


def entry(story: Mapping[str, Any], topics: Sequence[str] = ()) -> Entry:
    """An entry from a story as `Warehouse.story_details` gives it (title, url, first_seen_at, excerpt,
    sources, articles, publisher, site_name), with the topics any of its articles matched."""
    sources = list(story.get("sources") or [])
    copies = int(story.get("articles") or 1) - 1
    named = ", ".join(sources[:SOURCES_NAMED]) + (f" and {len(sources) - SOURCES_NAMED} more"
                                                  if len(sources) > SOURCES_NAMED else "")
    carried = (f"Carried by {len(sources)} sources ({copies} copies): {named}." if len(sources) > 1
               else f"{copies} copies, all from {named}." if copies else f"From {named}." if named else "")
    excerpt = _cut(str(story.get("excerpt") or ""), SUMMARY_CHARS)
    summary = "\n\n".join(part for part in (excerpt, carried) if part)
    url = str(story.get("url") or "")
    title = " ".join(xml_text(story.get("title")).split()) or url
    # who has the story, as the e-mails name it: the name its page gives, else its publisher's host
    author = str(story.get("site_name") or story.get("publisher") or (sources[0] if sources else "") or "unknown")
    return Entry(story_id=str(story["story_id"]), title=title, url=url, first_seen=story["first_seen_at"],
                 author=author, topics=tuple(topics), summary=summary)


INCIDENT_STORIES = 10     # stories listed in an alert's entry (the e-mail lists them all; a reader previews)


def incident_entry(incident: Mapping[str, Any]) -> Entry:
    """An entry of the alerts feed from an incident as `Warehouse.feed_incidents` gives it: the surge in its
    title ("kfor + north-kosovo-clash: 8 new stories about Ibar valley"), linked to its first story, its topics
    as categories, and in its summary the surge's window, what it was about and its stories with their links."""
    stories = list(incident.get("stories") or [])[:INCIDENT_STORIES]
    n = len(incident.get("story_ids") or [])
    about = " ".join(xml_text(incident.get("about")).split())
    head = ", ".join(subject_words([w.strip() for w in about.split(";")[0].split(",") if w.strip()]))
    title = (f"{' + '.join(incident['topics'])}: {n} new stor{'y' if n == 1 else 'ies'}"   # as the e-mail's subject
             + (f" about {head}" if head else ""))
    window = f"{_time(incident['window_start'])} to {_time(incident['window_end'])}"
    lines = [f"{n} unique stories from {window} (expected {float(incident['expected']):.1f})."]
    if about:
        lines.append(f"About: {about}.")
    for story in stories:
        url = str(story.get("url") or "")
        lines.append(f"- {' '.join(xml_text(story.get('title')).split()) or url}" + (f"\n  {url}" if safe_url(url) else ""))
    if n > len(stories):
        lines.append(f"and {n - len(stories)} more (`balkanwatch story`, `balkanwatch alerts`)")
    first = next((str(st.get("url")) for st in stories if safe_url(str(st.get("url") or ""))), "")
    return Entry(story_id=str(incident["incident_id"]), title=title, url=first, first_seen=incident["created_at"],
                 author="balkanwatch", topics=tuple(incident["topics"]), summary="\n".join(lines),
                 urn=f"urn:balkanwatch:incident:{incident['incident_id']}")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_text(text)
    return el


def render(feed_id: str, title: str, entries: Sequence[Entry], *, subtitle: str = "",
           self_url: str = "") -> bytes:
    """An Atom document of these entries, in the order given (newest first is the caller's)."""
    feed = ET.Element("feed", xmlns=ATOM)   # the default namespace, declared once (no global registration)
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    if subtitle:
        _sub(feed, "subtitle", subtitle)
    _sub(feed, "updated", _time(max((e.first_seen for e in entries), default=EMPTY_UPDATED)))
    author = _sub(feed, "author")
    _sub(author, "name", "balkanwatch")
    _sub(feed, "generator", "balkanwatch")
    if self_url and safe_url(self_url):
        _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    for e in entries:
        item = _sub(feed, "entry")
        _sub(item, "id", e.urn or f"urn:balkanwatch:story:{e.story_id}")
        _sub(item, "title", e.title)
        if safe_url(e.url):
            _sub(item, "link", rel="alternate", href=e.url)
        _sub(item, "published", _time(e.first_seen))
        _sub(item, "updated", _time(e.first_seen))
        _sub(_sub(item, "author"), "name", e.author)
        for topic in e.topics:
            _sub(item, "category", term=topic)
        if e.summary:
            _sub(item, "summary", e.summary, type="text")
    ET.indent(feed)
    data: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def opml(title: str, feeds: Sequence[tuple[str, str]]) -> bytes:
    """An OPML 2.0 list of feeds, (title, URL) each: what feed readers import to subscribe to all at once."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = xml_text(title)
    body = ET.SubElement(root, "body")
    for name, url in feeds:
        ET.SubElement(body, "outline", type="rss", text=xml_text(name), title=xml_text(name), xmlUrl=xml_text(url))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
