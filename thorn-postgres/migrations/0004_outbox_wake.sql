-- The outbox stops notifying on every insert. PostgreSQL serialises the
-- commits of transactions that notify (one lock for the whole cluster,
-- held while the commit is flushed), so a NOTIFY in every application
-- transaction took away group commit and halved the commit rate. Relays
-- now look again within milliseconds while rows flow and back off while
-- the outbox stays empty; before a longer wait a relay arms `outbox_wake`,
-- and the first statement to add rows after that notifies `thorn_outbox`
-- (with the schema): one NOTIFY per sleeping relay, none while rows flow.
--
-- A sequence, not a row: `nextval` and `setval` are never rolled back and
-- never wait for another transaction, so arming and firing never make one
-- application transaction wait for another. Armed means
-- that the next value is 1 (`setval(…, 1, false)`); nothing is armed
-- until a relay asks.
CREATE SEQUENCE outbox_wake AS bigint MINVALUE 1 START WITH 2 CYCLE;

CREATE OR REPLACE FUNCTION outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Qualified at run time: the application's search_path need not
    -- name Thorn's schema.
    IF nextval(format('%I.outbox_wake', TG_TABLE_SCHEMA)::regclass) = 1 THEN
        PERFORM pg_notify('thorn_outbox', TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END
$$;

-- The top-level transaction that wrote each row (savepoints included):
-- a relay keeps the events of one transaction in order for each
-- subscription, and hands those of different transactions over side by
-- side. Rows written before this migration all get its value, so they
-- keep the order they had.
ALTER TABLE outbox ADD COLUMN tx bigint NOT NULL DEFAULT txid_current();
