-- Version 7: no primary keys on the append-only per-article tables. DuckDB rewrites the last row group of
-- an indexed table at every checkpoint after an append (1.4 s at 100,000 articles, against 8 ms for the
-- same table without an index), and every run appends to these tables and checkpoints when it closes.
-- Uniqueness is kept by the writers, which hold the warehouse's exclusive lock and insert by anti-join
-- (warehouse/store.py). DuckDB cannot drop a constraint, so each table is copied into a new one.

CREATE TABLE articles_v7 (
    article_id         VARCHAR NOT NULL,
    url                VARCHAR NOT NULL,
    canonical_url      VARCHAR,
    final_url          VARCHAR,
    source             VARCHAR NOT NULL,
    feed_guid          VARCHAR,
    title              VARCHAR,
    author             VARCHAR,
    published_at       TIMESTAMP,
    published_from     VARCHAR NOT NULL,
    fetched_at         TIMESTAMP NOT NULL,
    language           VARCHAR,
    site_name          VARCHAR,
    text               VARCHAR NOT NULL,
    content_hash       VARCHAR NOT NULL,
    extractor_version  VARCHAR NOT NULL,
    run_id             VARCHAR,
    story_id           VARCHAR,
    repeated_paragraphs INTEGER,
    mentions_version   VARCHAR,
    boilerplate_paragraphs INTEGER,
    listed_updated_at  TIMESTAMP,
    revision           INTEGER,
    revised_at         TIMESTAMP
);
INSERT INTO articles_v7 SELECT * FROM articles;
DROP TABLE articles;
ALTER TABLE articles_v7 RENAME TO articles;

CREATE TABLE raw_pages_v7 (
    article_id  VARCHAR NOT NULL,
    url         VARCHAR NOT NULL,
    final_url   VARCHAR,
    fetched_at  TIMESTAMP NOT NULL,
    encoding    VARCHAR NOT NULL,
    html_zlib   BLOB NOT NULL,
    bytes       INTEGER NOT NULL
);
INSERT INTO raw_pages_v7 SELECT * FROM raw_pages;
DROP TABLE raw_pages;
ALTER TABLE raw_pages_v7 RENAME TO raw_pages;

CREATE TABLE article_sketches_v7 (
    article_id  VARCHAR NOT NULL,
    story_time  TIMESTAMP NOT NULL,
    hashes      UINTEGER[] NOT NULL,
    key_hashes  UBIGINT[]
);
INSERT INTO article_sketches_v7 SELECT * FROM article_sketches;
DROP TABLE article_sketches;
ALTER TABLE article_sketches_v7 RENAME TO article_sketches;

CREATE TABLE story_assignments_v7 (
    article_id          VARCHAR NOT NULL,
    story_id            VARCHAR NOT NULL,
    matched_article_id  VARCHAR,
    jaccard             DOUBLE,
    containment         DOUBLE,
    rule                VARCHAR NOT NULL,
    assigned_at         TIMESTAMP NOT NULL
);
INSERT INTO story_assignments_v7 SELECT * FROM story_assignments;
DROP TABLE story_assignments;
ALTER TABLE story_assignments_v7 RENAME TO story_assignments;

CREATE TABLE paragraph_signatures_v7 (
    article_id  VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    example     VARCHAR NOT NULL
);
INSERT INTO paragraph_signatures_v7 SELECT * FROM paragraph_signatures;
DROP TABLE paragraph_signatures;
ALTER TABLE paragraph_signatures_v7 RENAME TO paragraph_signatures;
