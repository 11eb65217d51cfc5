"""Scraped text on its way into Prefect artifacts (balkanwatch/escaping.py): pure functions."""

from __future__ import annotations

import pytest

from balkanwatch.escaping import MAX_CHARS, cell, link, link_text, markdown, markdown_link, one_line, safe_url

HOSTILE = [
    '<img src="http://127.0.0.1:9/pixel.png">Kosovo',
    "<script>alert(1)</script>KFOR",
    '<svg onload="alert(1)"><style>body{display:none}</style>',
    "[click](javascript:alert(document.cookie))",
    "Title\r\nBcc: victim@example.org",
    "![x](http://127.0.0.1:9/track.png) | injected | cell",
    "Write to victim@example.org or mailto:press@kfor.example",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_cell_carries_no_markup(text):
    out = cell(text)
    assert "<" not in out and ">" not in out and "](" not in out and "][" not in out and "&" not in out
    assert all(part.startswith("\u200b") for part in out.split("@")[1:])   # no e-mail autolink either
    assert "\r" not in out and "\n" not in out


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_carries_no_link_image_or_tag(text):
    out = markdown(text)
    assert "<" not in out and "\n" not in out
    assert "](" not in out and "[" not in out.replace("\\[", "") and "|" not in out.replace("\\|", "")


def test_text_stays_readable():
    # plain text, as the default Prefect UI shows a cell: no entities to read through
    assert cell("Serbia & Kosovo: 3 < 5 \"quoted\"") == "Serbia & Kosovo: 3 ‹ 5 \"quoted\""
    assert cell("[Update] KFOR") == "[Update]\u200b KFOR"
    assert markdown("KFOR (NATO) #1") == r"KFOR \(NATO\) \#1"
    assert one_line("a\r\nb\u2028c\x00d\u0085e") == "a b c d e"


def test_long_titles_are_capped():
    out = one_line("x" * 3000)
    assert len(out) == MAX_CHARS and out.endswith("…")
    assert len(cell("<" * 3000)) == MAX_CHARS


def test_only_http_links_are_links():
    assert safe_url("https://kfor.example/news/1") and safe_url("http://a.example/x?y=1")
    for bad in ("javascript:alert(1)", "data:text/html,<b>x</b>", "//host/x", "https://a.example/\nx", "", None):
        assert not safe_url(bad)
    assert link("javascript:alert(1)").startswith("(not an http link)")
    assert link("https://a.example/?q=<x>") == "https://a.example/?q=‹x›"


@pytest.mark.parametrize("text", HOSTILE)
def test_a_markdown_link_is_one_link_to_its_url(text):
    out = markdown_link(text, "https://kfor.example/news/a(1)|b>d]e?q=1&r=<2>#top")
    label, target = out[1:].rsplit("](", 1)
    assert out.startswith("[") and target == "https://kfor.example/news/a%281%29%7Cb%3Ed%5De?q=1&r=%3C2%3E#top)"
    assert label == link_text(text) and "<" not in out and "\n" not in out and "|" not in target
    assert "[" not in label and "]" not in label and "\\" not in label     # cannot end early, hold a link, escape
    assert markdown_link(text, "javascript:alert(1)") == markdown(text)       # no link, the text alone
    assert markdown_link("", "https://a.example/x") == "[https://a.example/x](https://a.example/x)"


def test_a_link_s_text_reads_as_itself() -> None:
    # the old Prefect UI shows escapes and entities inside a link's text literally: none are used there
    assert link_text("KFOR (NATO) #1 -- a_b *c*") == "KFOR (NATO) #1 -- a_b *c*"
    assert link_text("<b>[Update]</b> x\\") == "‹b›(Update)‹/b› x⧵"
