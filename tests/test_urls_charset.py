import pytest

from balkanwatch.urls import article_id, normalise_url
from connectors.charset import decode, detect_encoding

SERBIAN_LATIN = "Vojnici KFOR-a patroliraju u Zvečanu, Šapcu i Đakovici; čuvaju žičaru. " * 20
SERBIAN_CYRILLIC = "Војници КФОР-а патролирају у Звечану и Северној Митровици, чувају прелаз Јариње. " * 20


@pytest.mark.parametrize("a, b", [
    ("https://www.example.org/news/story/?utm_source=x&utm_medium=rss", "http://example.org/news/story"),
    ("https://example.org/news/story/amp", "https://m.example.org/news/story#comments"),
    ("https://example.org/a?b=2&a=1&fbclid=zz", "https://example.org/a?a=1&b=2"),
    # trackers courlan knows that our own list never had (Le Monde's xtor, itm_*, *_campaign)
    ("https://example.org/a?id=7&xtor=RSS-3&itm_source=home&fb_campaign=x", "https://example.org/a?id=7"),
    ("https://example.org/a?ocid=msn&outputType=amp&rss=1", "https://example.org/a"),
])
def test_same_article_same_id(a: str, b: str) -> None:
    assert normalise_url(a) == normalise_url(b)
    assert article_id(a) == article_id(b)


def test_different_articles_different_ids() -> None:
    assert article_id("https://example.org/a?id=1") != article_id("https://example.org/a?id=2")
    assert article_id("https://example.org/A") != article_id("https://example.org/a")
    # parameters that select content survive both our list and courlan's
    for name in ("id", "p", "page", "article", "story_id", "lang", "q", "aid", "newsid", "cat"):
        assert article_id(f"https://example.org/a?{name}=1") != article_id(f"https://example.org/a?{name}=2"), name


@pytest.mark.parametrize("text, encoding", [
    (SERBIAN_LATIN, "cp1250"), (SERBIAN_LATIN, "iso8859_2"), (SERBIAN_CYRILLIC, "cp1251"), (SERBIAN_LATIN, "utf-8"),
])
def test_declared_charset(text: str, encoding: str) -> None:
    body = f'<html><head><meta charset="{encoding}"></head><body><p>{text}</p></body></html>'.encode(encoding)
    decoded, _ = decode(body, None)
    assert text in decoded


@pytest.mark.parametrize("text, encoding", [(SERBIAN_LATIN, "cp1250"), (SERBIAN_CYRILLIC, "cp1251")])
def test_undeclared_charset_detected(text: str, encoding: str) -> None:
    body = f"<html><body><p>{text}</p></body></html>".encode(encoding)
    decoded, _ = decode(body, "text/html")
    assert text in decoded


def test_lying_declarations() -> None:
    cyr = f"<html><head><meta charset='utf-8'></head><body><p>{SERBIAN_CYRILLIC}</p></body></html>".encode("cp1251")
    assert SERBIAN_CYRILLIC in decode(cyr, "text/html; charset=utf-8")[0]
    utf8 = f"<html><body><p>{SERBIAN_LATIN}</p></body></html>".encode()
    assert detect_encoding(utf8, "text/html; charset=windows-1250") == "utf-8"
