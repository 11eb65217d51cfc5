-- Version 2: story clustering (issue #3). articles.story_id, sketches, assignment evidence, the stories view.
ALTER TABLE articles ADD COLUMN story_id VARCHAR;
ALTER TABLE articles ADD COLUMN repeated_paragraphs INTEGER;

CREATE TABLE IF NOT EXISTS article_sketches (
    article_id  VARCHAR PRIMARY KEY,
    story_time  TIMESTAMP NOT NULL,
    hashes      UINTEGER[] NOT NULL
);

CREATE TABLE IF NOT EXISTS story_assignments (
    article_id          VARCHAR PRIMARY KEY,
    story_id            VARCHAR NOT NULL,
    matched_article_id  VARCHAR,
    jaccard             DOUBLE,
    containment         DOUBLE,
    rule                VARCHAR NOT NULL,
    assigned_at         TIMESTAMP NOT NULL
);

CREATE OR REPLACE VIEW stories AS
SELECT a.story_id,
       min(s.story_time) AS first_seen_at,
       arg_min(a.source, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS origin_source,
       arg_min(a.article_id, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS origin_article_id,
       arg_min(a.title, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS title,
       count(*) AS articles,
       count(*) - 1 AS copies,
       list_sort(list(DISTINCT a.source)) AS sources,
       max(s.story_time) AS last_seen_at
FROM articles a JOIN article_sketches s USING (article_id)
WHERE a.story_id IS NOT NULL
GROUP BY a.story_id;
