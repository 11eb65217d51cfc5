-- Version 15: stories e-mailed as they came to a topic that asks for every story (watchlists[].every_story,
-- session 37): each story once per topic, recorded with its e-mail's outbox row in one transaction.

CREATE TABLE IF NOT EXISTS story_notices (
    watchlist   VARCHAR NOT NULL,
    story_id    VARCHAR NOT NULL,
    message_id  VARCHAR NOT NULL,                     -- the cycle's every-story e-mail ('': none went: no
                                                      -- recipients, or its surge e-mail carried them all)
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (watchlist, story_id)
);
