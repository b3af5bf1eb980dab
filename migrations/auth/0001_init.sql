-- The auth schema: accounts, consent history, audit trail, data-subject
-- requests and the outbox. Runs inside schema auth, in one transaction.

create table auth.users (
    id            uuid primary key,
    email         text check (email = lower(email) and length(email) between 3 and 254),
    password_hash text,
    name          text check (length(name) between 1 and 120),
    phone         text check (phone ~ '^\+[1-9][0-9]{7,14}$'),
    role          text not null default 'client'
                  check (role in ('client', 'owner', 'provider', 'admin')),
    locale        text not null default 'es-AR' check (locale in ('es-AR', 'en-US', 'pt-BR')),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    -- Set by the erasure of a later issue: the row stays (other services
    -- refer to the id) with its personal data set to NULL, and the email is
    -- free again for a new account.
    erased_at     timestamptz,
    constraint users_live_complete
        check (erased_at is not null or (email is not null and password_hash is not null
                                          and name is not null))
);

-- An email belongs to at most one live account. Register relies on this
-- index (SQLSTATE 23505), not on a check before the insert.
create unique index users_email_live_key on auth.users (email) where erased_at is null;

-- Consents are a history: one row per change, never updated. The current
-- state of a kind is its latest row.
create table auth.consents (
    id          bigint generated always as identity primary key,
    user_id     uuid not null references auth.users (id),
    kind        text not null check (kind in ('terms', 'marketing', 'whatsapp')),
    granted     boolean not null,
    recorded_at timestamptz not null default now(),
    ip          inet,
    user_agent  text,
    request_id  text
);

create index consents_user_kind_idx on auth.consents (user_id, kind, recorded_at desc, id desc);

-- Who did what to whose data (Ley 25.326). actor_id is NULL for anonymous
-- attempts and for operators at a shell; subject_id is NULL when unknown
-- (a failed login with an unknown email).
create table auth.audit_log (
    id         bigint generated always as identity primary key,
    at         timestamptz not null default now(),
    actor_id   uuid,
    subject_id uuid,
    action     text not null,
    request_id text,
    ip         inet,
    details    jsonb not null default '{}'::jsonb
);

create index audit_log_subject_at_idx on auth.audit_log (subject_id, at);

-- Export and erasure requests of a data subject (a later issue serves them).
create table auth.data_requests (
    id           uuid primary key,
    user_id      uuid not null references auth.users (id),
    kind         text not null check (kind in ('export', 'erasure')),
    status       text not null default 'pending'
                 check (status in ('pending', 'running', 'done', 'failed')),
    requested_at timestamptz not null default now(),
    completed_at timestamptz,
    request_id   text,
    details      jsonb not null default '{}'::jsonb
);

create index data_requests_user_idx on auth.data_requests (user_id, requested_at);

-- Events for other services, written in the same transaction as the change
-- and delivered at least once by a relay.
create table auth.outbox (
    id           uuid primary key,
    topic        text not null,
    payload      bytea not null,
    created_at   timestamptz not null default now(),
    delivered_at timestamptz
);

create index outbox_pending_idx on auth.outbox (created_at) where delivered_at is null;
