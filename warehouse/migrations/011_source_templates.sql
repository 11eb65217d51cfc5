-- Version 11: page templates learned per source (issue #17). Where a source's pages hold the article and
-- where the chrome (balkanwatch/templates.py); the extraction workers get a source's template with each job.

CREATE TABLE IF NOT EXISTS source_templates (
    source      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    pages       INTEGER NOT NULL,
    learned_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (source, kind, key)
);
