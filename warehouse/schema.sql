-- balkanwatch warehouse schema. This file is the whole current schema, applied to a new warehouse.
-- An existing warehouse is brought up to date by warehouse/migrations/NNN_*.sql, applied in order;
-- the version this file describes is the highest migration number (see SCHEMA_VERSION in store.py).
-- All timestamps are UTC, stored as TIMESTAMP without zone.

-- One row per applied schema version.
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    applied_at  TIMESTAMP NOT NULL
);

-- Configured sources and their health. The config file is the source of truth for what is polled;
-- this table keeps the state between runs (conditional-GET validators, failures, next poll).
CREATE TABLE IF NOT EXISTS sources (
    name                  VARCHAR PRIMARY KEY,
    kind                  VARCHAR NOT NULL,           -- feed | urls | sitemap | listing
    location              VARCHAR NOT NULL,           -- feed or sitemap URL; first page URL for a list
    language              VARCHAR,                    -- configured fallback language
    poll_minutes          DOUBLE NOT NULL,            -- interval between polls while healthy
    in_config             BOOLEAN NOT NULL DEFAULT TRUE,  -- false once removed from the config (rows kept)
    etag                  VARCHAR,                    -- validators of the listing, sent as If-None-Match
    last_modified         VARCHAR,                    --   and If-Modified-Since
    body_hash             VARCHAR,                    -- sha256 of the last listing body (validators can lie)
    last_attempt_at       TIMESTAMP,
    last_success_at       TIMESTAMP,
    last_new_item_at      TIMESTAMP,                  -- last time a poll brought a new article
    last_error            VARCHAR,                    -- message of the last failure (kept after recovery)
    last_error_kind       VARCHAR,                    -- transient | terminal | parse | forbidden-address | ...
    last_error_at         TIMESTAMP,
    last_warning          VARCHAR,                    -- e.g. a malformed feed that still parsed
    consecutive_failures  INTEGER NOT NULL DEFAULT 0, -- 0 = healthy; drives the graded backoff
    next_poll_at          TIMESTAMP,                  -- NULL = due now
    interval_minutes      DOUBLE,                     -- current interval, adapted to how often it publishes (v8)
    usual_gap_minutes     DOUBLE,                     -- mean gap between its items before the newest one (v8)
    silent_since          TIMESTAMP,                  -- answers but publishes nothing for several gaps (v8)
    ttl_minutes           DOUBLE,                     -- the feed's last RSS <ttl> (v8)
    country               VARCHAR,                    -- configured country (ISO 3166, e.g. XK, RS) (v9)
    source_type           VARCHAR                     -- the config's `kind`: official, agency, outlet, ... (v9)
);

-- One row per ingest run (a Prefect flow run, or a plain CLI run).
CREATE TABLE IF NOT EXISTS runs (
    run_id          VARCHAR PRIMARY KEY,
    flow_run_id     VARCHAR,                          -- Prefect flow run id, when run under Prefect
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    status          VARCHAR NOT NULL,                 -- running | completed | crashed
    sources_polled  INTEGER NOT NULL DEFAULT 0,
    sources_failed  INTEGER NOT NULL DEFAULT 0,
    new_articles    INTEGER NOT NULL DEFAULT 0,
    item_errors     INTEGER NOT NULL DEFAULT 0
);

-- Every HTTP attempt made for a listing or a page, good or bad.
CREATE TABLE IF NOT EXISTS fetches (
    run_id        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    final_url     VARCHAR,                            -- after redirects
    status        INTEGER,                            -- HTTP status; NULL when no answer came
    started_at    TIMESTAMP NOT NULL,
    elapsed_ms    DOUBLE NOT NULL,
    bytes         BIGINT NOT NULL,
    not_modified  BOOLEAN NOT NULL,                   -- 304, or a 200 whose body hash had not changed
    error         VARCHAR,
    error_kind    VARCHAR
);

-- Clean articles. article_id is a hash of the normalised URL, so re-polling inserts nothing new. The
-- per-article tables have no primary key (v7: an index makes DuckDB rewrite the table's last row group at
-- every checkpoint); writers keep article_id unique, inserting by anti-join under the warehouse lock.
CREATE TABLE IF NOT EXISTS articles (
    article_id         VARCHAR NOT NULL,
    url                VARCHAR NOT NULL,              -- as listed by the source
    canonical_url      VARCHAR,                       -- rel=canonical / og:url of the page
    final_url          VARCHAR,                       -- after redirects
    source             VARCHAR NOT NULL,
    feed_guid          VARCHAR,
    title              VARCHAR,
    author             VARCHAR,
    published_at       TIMESTAMP,
    published_from     VARCHAR NOT NULL,              -- page | feed | htmldate | none
    fetched_at         TIMESTAMP NOT NULL,
    language           VARCHAR,
    site_name          VARCHAR,
    text               VARCHAR NOT NULL,              -- clean text, one paragraph per line
    content_hash       VARCHAR NOT NULL,              -- versioned ("v1:...") hash of the normalised text
    extractor_version  VARCHAR NOT NULL,              -- e.g. trafilatura-2.3.1+bw1; see `balkanwatch reextract`
    run_id             VARCHAR,
    story_id           VARCHAR,                       -- the story this article is a copy of (v2); NULL until
                                                      -- assigned at the end of the run that loaded it
    repeated_paragraphs INTEGER,                      -- exact repeats dropped from text (v2; raw page keeps them)
    mentions_version   VARCHAR,                       -- watchlists last matched against (v3); NULL = not yet
    boilerplate_paragraphs INTEGER,                   -- site boilerplate paragraphs removed from text (v4);
                                                      -- NULL until the run's cleaning step has seen it
    listed_updated_at  TIMESTAMP,                     -- the listing's "last changed" time at the last fetch (v5)
    revision           INTEGER,                       -- 1, 2, …: bumped when a re-fetch brings changed text (v5)
    revised_at         TIMESTAMP,                     -- fetch time of the current revision when it is not the first
    publisher          VARCHAR,                       -- host the article was fetched from, without www. (v9): an
                                                      -- aggregator's item is credited to the outlet that wrote it
    text_from          VARCHAR                        -- where `text` came from (v13): the extractor the chooser
                                                      -- kept (trafilatura, readability, ...), or a teaser:
                                                      -- feed-summary | page-description (the page gave no
                                                      -- article: paywall, script, 401/403/451, robots.txt);
                                                      -- NULL: stored before v13
);

-- The page as fetched (zlib-compressed bytes, original encoding), so articles can be re-extracted.
CREATE TABLE IF NOT EXISTS raw_pages (
    article_id  VARCHAR NOT NULL,
    url         VARCHAR NOT NULL,
    final_url   VARCHAR,
    fetched_at  TIMESTAMP NOT NULL,
    encoding    VARCHAR NOT NULL,
    html_zlib   BLOB NOT NULL,
    bytes       INTEGER NOT NULL                      -- uncompressed size
);

-- Listed items that could not be turned into an article (HTTP error, no text). Retried a few times,
-- then left alone; the row says why.
CREATE TABLE IF NOT EXISTS failed_items (
    article_id     VARCHAR PRIMARY KEY,
    source         VARCHAR NOT NULL,
    url            VARCHAR NOT NULL,
    error          VARCHAR NOT NULL,
    error_kind     VARCHAR NOT NULL,
    attempts       INTEGER NOT NULL,
    last_tried_at  TIMESTAMP NOT NULL
);

-- Aggregator links resolved to the publisher's URL (v10): what Google News' decoding exchange answered for
-- a newer-form link (two requests to Google each), so the link is not exchanged again when a feed lists it
-- once more. Kept even when the publisher's page then fails: it is a fact about the link. No primary key
-- (see articles); writers insert by anti-join under the warehouse lock.
CREATE TABLE IF NOT EXISTS aggregator_links (
    link_id        VARCHAR NOT NULL,                  -- article_id() of the aggregator's link
    link           VARCHAR NOT NULL,                  -- the link as the feed listed it
    publisher_url  VARCHAR NOT NULL,                  -- the exchange's answer
    source         VARCHAR,                           -- the feed that listed it first
    resolved_at    TIMESTAMP NOT NULL
);

-- Builds of the full-text index: whole (`reindex`), or new articles folded into a file's index segments
-- (`Warehouse.seal_fts`). `balkanwatch search` also scans articles added since, so results are complete
-- between builds.
CREATE TABLE IF NOT EXISTS fts_builds (
    built_at  TIMESTAMP NOT NULL,
    articles  BIGINT NOT NULL                         -- articles in the index after this build
);

-- Story clustering evidence (v2). One row per article: its sketch (sampled 5-gram shingle hashes of the
-- folded text, see balkanwatch/dedupe.py) and the time that orders it within its story.
CREATE TABLE IF NOT EXISTS article_sketches (
    article_id  VARCHAR NOT NULL,
    story_time  TIMESTAMP NOT NULL,                   -- published_at, or fetched_at when unknown or in the future
    hashes      UINTEGER[] NOT NULL,
    key_hashes  UBIGINT[]                             -- 64-bit hashes of its exact keys once assigned (v6);
                                                      -- NULL: derive again from articles (text changed)
);

-- Why each article is in its story: the earlier article it matched and how closely (v2).
CREATE TABLE IF NOT EXISTS story_assignments (
    article_id          VARCHAR NOT NULL,
    story_id            VARCHAR NOT NULL,
    matched_article_id  VARCHAR,                      -- NULL when the article started the story
    jaccard             DOUBLE,
    containment         DOUBLE,                       -- of the smaller text in the larger
    rule                VARCHAR NOT NULL,             -- new-story | jaccard | containment | exact-text | exact-url | exact-guid
    assigned_at         TIMESTAMP NOT NULL
);

-- Which watchlists each article matches (title and text, folded: see balkanwatch/watch.py). Filled at
-- ingest for new articles and by `balkanwatch rematch`; articles.mentions_version says which watchlist
-- definitions an article was last matched against, so a changed config rematches on the next run.
CREATE TABLE IF NOT EXISTS mentions (
    article_id  VARCHAR NOT NULL,
    watchlist   VARCHAR NOT NULL,                     -- [[watchlists]] name
    terms       VARCHAR[] NOT NULL,                   -- the (folded) terms that made it match
    matched_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (article_id, watchlist)
);

-- Stories e-mailed as they came to a topic that asks for every story (watchlists[].every_story): each story
-- once per topic, recorded with its e-mail's outbox row in one transaction.
CREATE TABLE IF NOT EXISTS story_notices (
    watchlist   VARCHAR NOT NULL,
    story_id    VARCHAR NOT NULL,
    message_id  VARCHAR NOT NULL,                     -- the cycle's every-story e-mail ('': none went: no
                                                      -- recipients, or its surge e-mail carried them all)
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (watchlist, story_id)
);

-- An analyst's verdict on an alert (`balkanwatch rate`): was the surge worth the e-mail? The latest per alert:
-- the labelled alerts a detector can later be judged on.
CREATE TABLE IF NOT EXISTS alert_ratings (
    alert_id    VARCHAR NOT NULL,
    verdict     VARCHAR NOT NULL,                     -- useful | noise
    note        VARCHAR NOT NULL,                     -- why, in the analyst's words ('' when none given)
    rated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id)
);

-- A surge the desk wanted an alert for and got none (`balkanwatch missed`): the misses beside the rated alerts.
CREATE TABLE IF NOT EXISTS missed_surges (
    watchlist   VARCHAR NOT NULL,
    surged_at   TIMESTAMP NOT NULL,                   -- about when the surge was (UTC)
    note        VARCHAR NOT NULL,                     -- what it was, in the analyst's words ('' when none given)
    noted_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (watchlist, surged_at)
);

-- The words `balkanwatch rising` counts of each recent story (its origin's folded title and text), split once by
-- the alerts cycle (`Warehouse.refresh_story_words`), for the stories of the last four weeks and a day.
CREATE TABLE IF NOT EXISTS story_words (
    story_id      VARCHAR PRIMARY KEY,
    article_id    VARCHAR NOT NULL,                   -- the story's origin the words are of…
    content_hash  VARCHAR NOT NULL,                   -- …at this text…
    title         VARCHAR,                            -- …and this title (a change to any of the three: split again)
    words         VARCHAR[] NOT NULL                  -- folded, each once, of 3 letters or more, not only digits
);

-- One row per spike the alerts flow acted on (only spikes inside the alert window; older ones are history).
CREATE TABLE IF NOT EXISTS alerts (
    alert_id      VARCHAR PRIMARY KEY,                -- watchlist + bucket: re-running a cycle adds nothing
    incident_id   VARCHAR NOT NULL,                   -- spikes sharing stories in one cycle: one e-mail
    watchlist     VARCHAR NOT NULL,
    bucket_start  TIMESTAMP NOT NULL,                 -- the bucket in which the detector fired
    window_start  TIMESTAMP NOT NULL,                 -- the surge: first bucket above the baseline …
    window_end    TIMESTAMP NOT NULL,                 --   … end of its last one (exclusive)
    score         DOUBLE NOT NULL,                    -- detector score in [0, 1] where it fired
    observed      DOUBLE NOT NULL,                    -- unique stories in the surge
    expected      DOUBLE NOT NULL,                    -- the baseline's expectation for the window
    story_ids     VARCHAR[] NOT NULL,                 -- the stories that drove it
    status        VARCHAR NOT NULL,                   -- pending (in the outbox) | sent | no-recipients
    created_at    TIMESTAMP NOT NULL,
    about         VARCHAR                             -- what the surge was about, as its e-mail said
                                                      --   ('Banjska monastery; gunmen'); '' when nothing rose,
                                                      --   NULL before schema 19 or when it could not be read
);

-- E-mails to send. A message is built once (same bytes and Message-ID on every attempt) and stays
-- 'pending' until the SMTP server accepted it; a failed attempt records the error and is retried next cycle.
CREATE TABLE IF NOT EXISTS outbox (
    message_id       VARCHAR PRIMARY KEY,             -- the Message-ID header
    kind             VARCHAR NOT NULL,                -- spike | story | digest | silent | stalled | …
    incident_id      VARCHAR,
    subject          VARCHAR NOT NULL,
    recipients       VARCHAR[] NOT NULL,
    message          BLOB NOT NULL,                   -- the whole RFC 5322 message
    status           VARCHAR NOT NULL,                -- pending | sent
    created_at       TIMESTAMP NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_attempt_at  TIMESTAMP,
    last_error       VARCHAR,                         -- why the last attempt failed (never a secret)
    sent_at          TIMESTAMP
);

-- Short paragraphs of each article (≤ 40 words) by signature, recorded before boilerplate is removed: the
-- evidence the per-source boilerplate is learned from (balkanwatch/boilerplate.py).
CREATE TABLE IF NOT EXISTS paragraph_signatures (
    article_id  VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,                     -- p:<hash of folded text> | l:<label of "Label: …" lines>
    kind        VARCHAR NOT NULL,                     -- paragraph | label | link (a label line whose rest is a link)
    example     VARCHAR NOT NULL                      -- the paragraph as it was
);

-- The boilerplate learned for each source: signatures found in ≥ 3 and ≥ 30% of its last 200 articles.
-- Paragraphs with these signatures are removed from articles.text (raw_pages keeps them).
CREATE TABLE IF NOT EXISTS source_boilerplate (
    source      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    example     VARCHAR NOT NULL,                     -- one paragraph it matched
    articles    INTEGER NOT NULL,                     -- articles of the window it occurs in
    share       DOUBLE NOT NULL,                      -- … as a share of the window
    learned_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (source, key)
);

-- The page template learned for each source from its last pages and their texts (balkanwatch/templates.py):
-- element locations holding the article or chrome, and chrome texts repeated across its pages. Applied when
-- the source's next pages are extracted; a source with fewer than 5 pages has none, one whose pages taught
-- nothing a single row of kind "none" (so that it is not asked again before 20 more pages).
CREATE TABLE IF NOT EXISTS source_templates (
    source      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,                     -- content | chrome (a location) | chrome_text | none
    key         VARCHAR NOT NULL,                     -- the location ("article>div.entry-content>p") or Block.key
    pages       INTEGER NOT NULL,                     -- pages it was learned from
    learned_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (source, kind, key)
);

-- Earlier revisions of articles: when the listing says an article changed (Atom <updated>, sitemap <lastmod>
-- newer than what we stored) it is fetched again; changed text replaces the article's and the old one is kept
-- here. The article keeps its id and story.
CREATE TABLE IF NOT EXISTS article_revisions (
    article_id    VARCHAR NOT NULL,
    revision      INTEGER NOT NULL,                   -- the revision number this text had
    fetched_at    TIMESTAMP NOT NULL,
    title         VARCHAR,
    content_hash  VARCHAR NOT NULL,
    text          VARCHAR NOT NULL,
    PRIMARY KEY (article_id, revision)
);

-- One row per story: its origin (first-seen article and source), title, copies and sources (v2).
CREATE OR REPLACE VIEW stories AS
SELECT a.story_id,
       min(s.story_time) AS first_seen_at,
       arg_min(a.source, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS origin_source,
       arg_min(a.article_id, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS origin_article_id,
       arg_min(a.title, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS title,
       arg_min(a.publisher, strftime(s.story_time, '%Y%m%d%H%M%S') || a.article_id) AS origin_publisher,
       count(*) AS articles,
       count(*) - 1 AS copies,
       list_sort(list(DISTINCT a.source)) AS sources,
       list_sort(list(DISTINCT a.publisher) FILTER (WHERE a.publisher IS NOT NULL)) AS publishers,
       max(s.story_time) AS last_seen_at
FROM articles a JOIN article_sketches s USING (article_id)
WHERE a.story_id IS NOT NULL
GROUP BY a.story_id;

-- Source health at a glance: what the Prefect artifact and `balkanwatch sources list` show.
CREATE OR REPLACE VIEW source_health AS
SELECT s.name, s.kind, s.location, s.in_config,
       CASE WHEN s.consecutive_failures >= 3 THEN 'unhealthy'
            WHEN s.consecutive_failures > 0 THEN 'failing'
            WHEN s.silent_since IS NOT NULL THEN 'silent'
            ELSE 'healthy' END AS health,
       s.consecutive_failures, s.last_attempt_at, s.last_success_at, s.last_new_item_at,
       s.last_error, s.last_error_kind, s.next_poll_at,
       coalesce(s.interval_minutes, s.poll_minutes) AS poll_minutes, s.poll_minutes AS configured_minutes,
       s.usual_gap_minutes, s.silent_since,
       (SELECT count(*) FROM articles a WHERE a.source = s.name) AS articles,
       s.country, s.language, s.source_type, s.last_warning
FROM sources s;

-- A story mentions a topic when any of its copies does; it counts once, at the story's first-seen time
-- (the earliest publication among all its copies), so syndication alone cannot make a spike.
CREATE OR REPLACE VIEW story_mentions AS
SELECT m.watchlist, a.story_id, any_value(st.first_seen_at) AS first_seen_at, any_value(st.title) AS title,
       any_value(st.articles) AS articles, any_value(st.sources) AS sources
FROM mentions m JOIN articles a USING (article_id) JOIN stories st USING (story_id)
GROUP BY m.watchlist, a.story_id;

-- Unique stories per topic and hour (the alerts flow buckets by alerts.bucket_minutes itself).
CREATE OR REPLACE VIEW topic_counts AS
SELECT watchlist, date_trunc('hour', first_seen_at) AS bucket, count(*) AS stories
FROM story_mentions GROUP BY ALL;
