-- Version 19: what each alert's surge was about, as its e-mail's About line said it (session 41), so that
-- `balkanwatch alerts` (and a desk choosing which alert to rate) can tell the Banjska surge from the next one.
-- Alerts recorded before this version: NULL.

ALTER TABLE alerts ADD COLUMN about VARCHAR;
