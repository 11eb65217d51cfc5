-- Version 12: a source's warning in `source_health` (session 27). A source that answers with a warning (a
-- malformed feed that still parsed, a feed moved permanently to another URL) stored it in
-- `sources.last_warning`, which no listing showed; `balkanwatch sources` and the source-health artifact read
-- this view.

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
