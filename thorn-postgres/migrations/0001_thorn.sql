-- Thorn's tables, made in the schema the migration runs with as its
-- search_path (THORN_PG_SCHEMA, default `thorn`).

-- Subscriptions. Every change notifies `thorn_subscriptions` with
-- "<schema> <id>", so that each process keeps its in-memory index fresh.
CREATE TABLE subscriptions (
    id uuid PRIMARY KEY,
    owner text,
    pattern text NOT NULL,
    url text NOT NULL,
    -- As given, or sealed (`aesgcm1:` and base64) under THORN_PG_SECRET_KEY.
    secret text NOT NULL,
    previous_secrets text[] NOT NULL DEFAULT '{}',
    previous_until bigint,
    digest text NOT NULL DEFAULT 'sha256',
    signer text,
    content_type text NOT NULL DEFAULT 'application/json',
    standard_webhooks boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX subscriptions_owner ON subscriptions (owner);

CREATE FUNCTION subscription_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('thorn_subscriptions', TG_TABLE_SCHEMA || ' ' || OLD.id::text);
    ELSE
        PERFORM pg_notify('thorn_subscriptions', TG_TABLE_SCHEMA || ' ' || NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscriptions_changed
    AFTER INSERT OR UPDATE OR DELETE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscription_changed();

-- The outbox: events written in the application's transactions, handed to
-- the backend by relays. A statement that adds rows notifies
-- `thorn_outbox` with the schema, delivered when its transaction commits.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL,
    name text NOT NULL,
    data jsonb NOT NULL,
    sender text,
    reference text,
    timeout_ms bigint,
    -- When the event was sent (Unix ms, the sender's clock): with
    -- event_id, what every delivery id is derived from.
    created_ms bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    available_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbox_available ON outbox (available_at, id);

CREATE FUNCTION outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('thorn_outbox', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_added
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_added();
