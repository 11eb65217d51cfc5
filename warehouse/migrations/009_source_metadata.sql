-- Version 9: who publishes what (issue #18). Each source's configured country and type (the config's
-- `kind`: official, agency, outlet, aggregator …) and every article's publisher: the host it was fetched
-- from, so an aggregator's item is credited to the outlet that wrote it while `source` stays the feed.

ALTER TABLE sources ADD COLUMN country VARCHAR;
ALTER TABLE sources ADD COLUMN source_type VARCHAR;
ALTER TABLE articles ADD COLUMN publisher VARCHAR;

-- balkanwatch.urls.publisher_of in SQL: the host of the final URL, lower case, without "www.", with its port
-- only when it is not the scheme's default
UPDATE articles SET publisher = regexp_replace(regexp_replace(lower(regexp_extract(coalesce(final_url, url),
           '^([A-Za-z][A-Za-z0-9+.-]*://)(?:[^@/?#]*@)?([^/?#]+)', ['scheme', 'host']).host),
           '^www\.', ''), CASE WHEN lower(coalesce(final_url, url)) LIKE 'https:%' THEN ':443$' ELSE ':80$' END, '');

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
       s.country, s.language, s.source_type
FROM sources s;
