-- Version 17: a surge the desk wanted an alert for and got none (`balkanwatch missed`, session 38): the misses
-- beside the rated alerts (alert_ratings), so that a replay of the detector can be judged on both.

CREATE TABLE IF NOT EXISTS missed_surges (
    watchlist   VARCHAR NOT NULL,
    surged_at   TIMESTAMP NOT NULL,                   -- about when the surge was (UTC)
    note        VARCHAR NOT NULL,                     -- what it was, in the analyst's words ('' when none given)
    noted_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (watchlist, surged_at)
);
