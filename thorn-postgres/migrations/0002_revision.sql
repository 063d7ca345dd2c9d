-- Each subscription's revision: 1 once added, one more for each change. A
-- change read at one revision is applied only while the row is still at
-- it, so that two changes made from one read cannot overwrite each other.
ALTER TABLE subscriptions ADD COLUMN revision bigint NOT NULL DEFAULT 1;
