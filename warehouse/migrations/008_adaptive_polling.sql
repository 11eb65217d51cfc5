-- Version 8: adaptive polling and silence (issue #15). A source's current interval follows how often it
-- publishes (balkanwatch/health.py); a source that answers but has published nothing for several of its
-- usual gaps is `silent` from `silent_since`.

ALTER TABLE sources ADD COLUMN interval_minutes DOUBLE;
ALTER TABLE sources ADD COLUMN usual_gap_minutes DOUBLE;
ALTER TABLE sources ADD COLUMN silent_since TIMESTAMP;
ALTER TABLE sources ADD COLUMN ttl_minutes DOUBLE;

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
       (SELECT count(*) FROM articles a WHERE a.source = s.name) AS articles
FROM sources s;
