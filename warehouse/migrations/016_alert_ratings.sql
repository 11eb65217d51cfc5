-- Version 16: an analyst's verdict on an alert (`balkanwatch rate`, session 38): was the surge worth the
-- e-mail? The latest verdict per alert is kept: the labelled alerts a detector can later be judged on.

CREATE TABLE IF NOT EXISTS alert_ratings (
    alert_id    VARCHAR NOT NULL,
    verdict     VARCHAR NOT NULL,                     -- useful | noise
    note        VARCHAR NOT NULL,                     -- why, in the analyst's words ('' when none given)
    rated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id)
);
