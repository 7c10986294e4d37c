-- Linked payments (issue 17): the payments of one atomic batch share a
-- `link_id`, and settle applies them all or none (every one `done`, or every
-- one `failed`). The link lives here, not in a message, because settle
-- trusts only the database: whatever a message names, settle reads a linked
-- payment's whole set and moves it together. Set once, at insert; never
-- updated, so the column costs settle's updates nothing (HOT updates stay
-- possible: the index below is on a column they never change).
ALTER TABLE payments ADD COLUMN link_id uuid;
-- Settle looks a set up by its link; most payments have none.
CREATE INDEX payments_by_link ON payments (link_id) WHERE link_id IS NOT NULL;
