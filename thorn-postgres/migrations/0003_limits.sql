-- Each subscription's limits (Subscriber::rate_limit, max_in_flight and
-- ordered). A rate limit is a rate with its burst: both set, or neither.
-- bigint, not integer: they hold every value of the u32 they come from.
-- NULL: no limit; ordered false: no strict order.
ALTER TABLE subscriptions
    ADD COLUMN rate_limit_per_second bigint
        CHECK (rate_limit_per_second BETWEEN 1 AND 4294967295),
    ADD COLUMN rate_limit_burst bigint
        CHECK (rate_limit_burst BETWEEN 1 AND 4294967295),
    ADD COLUMN max_in_flight bigint
        CHECK (max_in_flight BETWEEN 1 AND 4294967295),
    ADD COLUMN ordered boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT subscriptions_rate_limit_whole
        CHECK ((rate_limit_per_second IS NULL) = (rate_limit_burst IS NULL));
