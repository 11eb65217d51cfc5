-- Version 10: aggregator links remembered (issue #18). A Google News link of the newer form costs two
-- requests to Google (the decoding exchange, flows/poll.py); what the exchange answered is kept here, so a
-- feed that lists the item again, a re-run or another shard uses the stored URL and asks nothing. No primary
-- key, like the article tables (version 7): an indexed table costs a checkpoint rewrite after every append
-- (130 ms at 100,000 rows against 5 ms unindexed, DuckDB 1.5); writers insert by anti-join under the lock.

CREATE TABLE aggregator_links (
    link_id        VARCHAR NOT NULL,
    link           VARCHAR NOT NULL,
    publisher_url  VARCHAR NOT NULL,
    source         VARCHAR,
    resolved_at    TIMESTAMP NOT NULL
);
