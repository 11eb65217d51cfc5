-- Version 13: where an article's text came from (session 34). A listed item whose page gives no article
-- text (a paywall's notice, a page drawn by script, a 401/403/451 answer, a robots.txt disallow) is kept as
-- a teaser, the listing's summary (or the page's description) as its text, and `text_from` says so; for an
-- extracted page it names the extractor the chooser kept. Rows stored before this version: NULL.

ALTER TABLE articles ADD COLUMN text_from VARCHAR;
