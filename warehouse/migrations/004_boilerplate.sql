-- Version 4: site boilerplate learned per source (issue #3).
ALTER TABLE articles ADD COLUMN boilerplate_paragraphs INTEGER;

CREATE TABLE IF NOT EXISTS paragraph_signatures (
    article_id  VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    example     VARCHAR NOT NULL,
    PRIMARY KEY (article_id, key)
);

CREATE TABLE IF NOT EXISTS source_boilerplate (
    source      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    example     VARCHAR NOT NULL,
    articles    INTEGER NOT NULL,
    share       DOUBLE NOT NULL,
    learned_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (source, key)
);
