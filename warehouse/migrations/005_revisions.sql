-- Version 5: revisions of an article (issue #3).
ALTER TABLE articles ADD COLUMN listed_updated_at TIMESTAMP;
ALTER TABLE articles ADD COLUMN revision INTEGER;
ALTER TABLE articles ADD COLUMN revised_at TIMESTAMP;

CREATE TABLE IF NOT EXISTS article_revisions (
    article_id    VARCHAR NOT NULL,
    revision      INTEGER NOT NULL,
    fetched_at    TIMESTAMP NOT NULL,
    title         VARCHAR,
    content_hash  VARCHAR NOT NULL,
    text          VARCHAR NOT NULL,
    PRIMARY KEY (article_id, revision)
);
