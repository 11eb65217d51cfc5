-- Version 6: the exact keys of assigned articles stored hashed, so a run's story index does not
-- normalise every URL of the 30-day window again (issue #3's scale work). NULL until the next run
-- derives them (`Warehouse.fill_key_hashes`).
ALTER TABLE article_sketches ADD COLUMN key_hashes UBIGINT[];
