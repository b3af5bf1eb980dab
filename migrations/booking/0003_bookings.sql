-- Shop policies, price history, weekly schedules, time off and the bookings
-- themselves, with the exclusion constraint that makes an overlap impossible.

ALTER TABLE shops
    ADD COLUMN cancellation_hours integer NOT NULL DEFAULT 24
        CHECK (cancellation_hours BETWEEN 0 AND 720),
    ADD COLUMN no_show_deposit_percent integer NOT NULL DEFAULT 50
        CHECK (no_show_deposit_percent BETWEEN 1 AND 100);

-- Every price a service has had, with the local date it took effect. The
-- price in force is the latest row whose effective_from is not in the future;
-- services.price_cents mirrors it for reads and is refreshed when a dated
-- price takes effect (see the booking daemon's prices.c).
CREATE TABLE service_prices (
    id bigserial PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    effective_from date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    UNIQUE (service_id, effective_from)
);
INSERT INTO service_prices (service_id, price_cents, effective_from)
SELECT id, price_cents, (created_at AT TIME ZONE 'America/Argentina/Buenos_Aires')::date
FROM services;

-- Weekly working hours: several rows a day are the breaks between them.
-- Minutes after local midnight in the shop's zone.
CREATE TABLE provider_hours (
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_min smallint NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    end_min smallint NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
    CHECK (start_min < end_min),
    PRIMARY KEY (provider_id, weekday, start_min)
);
-- The default week for the providers that exist already.
INSERT INTO provider_hours (provider_id, weekday, start_min, end_min)
SELECT p.id, d.weekday, d.start_min, d.end_min
FROM providers p
CROSS JOIN (VALUES (1, 540, 1080), (2, 540, 1080), (3, 540, 1080), (4, 540, 1080),
                   (5, 540, 1080), (6, 540, 780)) AS d (weekday, start_min, end_min);

CREATE TABLE time_off (
    id uuid PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    period tstzrange NOT NULL CHECK (NOT isempty(period)),
    reason text CHECK (length(reason) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid
);
CREATE INDEX time_off_provider_idx ON time_off USING gist (provider_id, period);

CREATE TABLE bookings (
    id uuid PRIMARY KEY,
    shop_id uuid NOT NULL REFERENCES shops (id),
    provider_id uuid NOT NULL REFERENCES providers (id),
    service_id uuid NOT NULL REFERENCES services (id),
    client_id uuid,                    -- auth.users id; NULL once erased
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,      -- end of the service, without the buffer
    blocked tstzrange NOT NULL,        -- [starts_at, ends_at + buffer): the chair is taken
    status text NOT NULL CHECK (status IN ('pending_payment', 'confirmed', 'completed',
                                           'no_show', 'cancelled', 'expired')),
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    deposit_cents bigint NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    currency char(3) NOT NULL DEFAULT 'ARS',
    notes text CHECK (length(notes) <= 1000),
    hold_expires_at timestamptz,       -- while pending_payment
    cancelled_by text CHECK (cancelled_by IN ('client', 'provider', 'owner', 'admin', 'system')),
    cancel_reason text CHECK (length(cancel_reason) <= 500),
    cancelled_at timestamptz,
    refund_due boolean NOT NULL DEFAULT false,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at < ends_at),
    CHECK (lower(blocked) = starts_at AND upper(blocked) >= ends_at),
    -- Two active bookings of one provider can never overlap: the database is
    -- the last word, whatever the application checked before.
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (provider_id WITH =, blocked WITH &&)
        WHERE (status IN ('pending_payment', 'confirmed'))
);
CREATE INDEX bookings_client_idx ON bookings (client_id, starts_at);
CREATE INDEX bookings_provider_idx ON bookings (provider_id, starts_at);
CREATE INDEX bookings_shop_idx ON bookings (shop_id, starts_at);
CREATE INDEX bookings_hold_idx ON bookings (hold_expires_at) WHERE status = 'pending_payment';
CREATE INDEX bookings_no_show_idx ON bookings (client_id, starts_at) WHERE status = 'no_show';
