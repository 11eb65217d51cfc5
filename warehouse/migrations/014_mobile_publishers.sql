-- Version 14: one publisher, not two, for an outlet's mobile and AMP hosts (session 34). `publisher` was the
-- host without "www."; m.b92.net and b92.net counted as two publishers in `stories` and the e-mails, and the
-- same-site rule of dedupe (two articles of one publisher under different headlines) did not apply between
-- them. balkanwatch.urls.publisher_of now also drops a leading "m.", "mobile." or "amp." before a name that
-- still has a dot; the stored publishers follow the same rule.

UPDATE articles SET publisher = regexp_replace(publisher, '^(m|mobile|amp)\.', '')
WHERE regexp_matches(publisher, '^(m|mobile|amp)\.[^.]+\.');
