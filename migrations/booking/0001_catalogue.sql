-- The catalogue: shops, their services and their providers (barbers).
-- Bookings, schedules and availability arrive with the booking issue; these
-- tables exist now so that `make run` can load its demo shop.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

CREATE TABLE shops (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,            -- auth.users id, owned by the auth service
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    address text NOT NULL,
    city text NOT NULL,
    phone text,
    timezone text NOT NULL DEFAULT 'America/Argentina/Buenos_Aires',
    slot_step_minutes integer NOT NULL DEFAULT 15 CHECK (slot_step_minutes BETWEEN 5 AND 120),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shops_city_idx ON shops (lower(city));
CREATE INDEX shops_owner_idx ON shops (owner_id);

CREATE TABLE services (
    id uuid PRIMARY KEY,
    shop_id uuid NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 600),
    buffer_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_minutes BETWEEN 0 AND 240),
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    currency char(3) NOT NULL DEFAULT 'ARS',
    deposit_percent integer NOT NULL DEFAULT 0 CHECK (deposit_percent BETWEEN 0 AND 100),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX services_shop_idx ON services (shop_id);

CREATE TABLE providers (
    id uuid PRIMARY KEY,
    shop_id uuid NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    user_id uuid,                      -- the provider's auth account, when linked
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    email text,
    phone text,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_shop_idx ON providers (shop_id);
CREATE UNIQUE INDEX providers_user_shop_key ON providers (shop_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE provider_services (
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, service_id)
);

-- Events for other services, written in the same transaction as the change.
CREATE TABLE outbox (
    id uuid PRIMARY KEY,
    topic text NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (created_at) WHERE delivered_at IS NULL;
