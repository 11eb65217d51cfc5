-- Version 18: the words `balkanwatch rising` counts of each recent story, split once (session 39): reading the
-- rising words split every story of four weeks again, 5-6 s for 30,000 stories, too slow for every alerts
-- cycle; with the words stored a reading takes a fraction of that.

CREATE TABLE IF NOT EXISTS story_words (
    story_id      VARCHAR PRIMARY KEY,
    article_id    VARCHAR NOT NULL,                   -- the story's origin the words are of…
    content_hash  VARCHAR NOT NULL,                   -- …at this text…
    title         VARCHAR,                            -- …and this title (a change to any of the three: split again)
    words         VARCHAR[] NOT NULL                  -- folded, each once, of 3 letters or more, not only digits
);
