-- One settle transaction updates every account its batch moves, and a
-- batch of a thousand payments over a thousand accounts moves most of
-- them, several on each page. An update stays on its page (HOT, no new
-- index entries) only while the page has room, and the old versions are
-- pruned only after the transaction ends: with full pages, a sixth of
-- those updates in the batch benchmark wrote the row again on another page
-- and a new entry in both account indexes (bench/write-cost, issue 27).
-- Accounts are few beside payments, so a half-empty page costs little.
-- Pages written before this keep their fill until they are rewritten.
ALTER TABLE accounts SET (fillfactor = 50);
