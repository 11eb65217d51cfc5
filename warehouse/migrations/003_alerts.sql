-- Version 3: watchlist mentions, topic counts and alerts (issue #4).
ALTER TABLE articles ADD COLUMN mentions_version VARCHAR;

CREATE TABLE IF NOT EXISTS mentions (
    article_id  VARCHAR NOT NULL,
    watchlist   VARCHAR NOT NULL,
    terms       VARCHAR[] NOT NULL,
    matched_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (article_id, watchlist)
);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id      VARCHAR PRIMARY KEY,
    incident_id   VARCHAR NOT NULL,
    watchlist     VARCHAR NOT NULL,
    bucket_start  TIMESTAMP NOT NULL,
    window_start  TIMESTAMP NOT NULL,
    window_end    TIMESTAMP NOT NULL,
    score         DOUBLE NOT NULL,
    observed      DOUBLE NOT NULL,
    expected      DOUBLE NOT NULL,
    story_ids     VARCHAR[] NOT NULL,
    status        VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox (
    message_id       VARCHAR PRIMARY KEY,
    kind             VARCHAR NOT NULL,
    incident_id      VARCHAR,
    subject          VARCHAR NOT NULL,
    recipients       VARCHAR[] NOT NULL,
    message          BLOB NOT NULL,
    status           VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_attempt_at  TIMESTAMP,
    last_error       VARCHAR,
    sent_at          TIMESTAMP
);

CREATE OR REPLACE VIEW story_mentions AS
SELECT m.watchlist, a.story_id, any_value(st.first_seen_at) AS first_seen_at, any_value(st.title) AS title,
       any_value(st.articles) AS articles, any_value(st.sources) AS sources
FROM mentions m JOIN articles a USING (article_id) JOIN stories st USING (story_id)
GROUP BY m.watchlist, a.story_id;

CREATE OR REPLACE VIEW topic_counts AS
SELECT watchlist, date_trunc('hour', first_seen_at) AS bucket, count(*) AS stories
FROM story_mentions GROUP BY ALL;
