-- Ley 25.326: the outbox and inbox in the shape of common/outbox.h (the
-- first outbox predates it and was never written to), the version of the
-- terms a consent accepted, the progress of erasure requests per service,
-- and an audit log that nothing but the retention job can delete from.

drop table auth.outbox;

create table auth.outbox (
    id bigserial primary key,
    event_id uuid not null,
    topic text not null,
    key text,
    consumer text not null,
    payload bytea not null,
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    locked_until timestamptz,
    delivered_at timestamptz,
    last_error text,
    unique (event_id, consumer)
);
create index outbox_due_idx on auth.outbox (next_attempt_at, id) where delivered_at is null;
create index outbox_key_pending_idx on auth.outbox (consumer, key, id) where delivered_at is null;
create index outbox_delivered_idx on auth.outbox (delivered_at) where delivered_at is not null;

-- Audit records other services send (audit.recorded).
create table auth.inbox (
    event_id uuid primary key,
    topic text not null,
    producer text,
    received_at timestamptz not null default now()
);
create index inbox_received_idx on auth.inbox (received_at);

-- The terms version a 'terms' row accepted (TERMS_VERSION at the time).
alter table auth.consents
    add column version text check (version is null or length(version) between 1 and 64),
    add constraint consents_version_terms check (version is null or kind = 'terms');

-- An erasure's event and, per consumer of it, when that consumer applied
-- it ({"booking": null} until then). deadline: 5 business days after the
-- request (Buenos Aires, national holidays skipped).
alter table auth.data_requests
    add column event_id uuid,
    add column deadline timestamptz,
    add column services jsonb not null default '{}'::jsonb;
create index data_requests_open_idx on auth.data_requests (deadline) where status <> 'done';

-- Who did it from where: the role the actor had and the service that saw
-- the access (auth itself, or the producer of an audit.recorded event).
alter table auth.audit_log
    add column actor_role text check (actor_role is null or length(actor_role) <= 16),
    add column service text not null default 'auth' check (length(service) <= 32);
create index audit_log_actor_at_idx on auth.audit_log (actor_id, at) where actor_id is not null;
create index audit_log_at_idx on auth.audit_log (at);

-- Append-only: no UPDATE, no TRUNCATE, and DELETE only of records older
-- than 5 years by a transaction that declared itself the retention job
-- (SET LOCAL barberpro.audit_retention = 'on').
create function auth.audit_log_append_only() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and current_setting('barberpro.audit_retention', true) = 'on'
       and old.at < now() - interval '5 years' then
        return old;
    end if;
    raise exception 'auth.audit_log is append-only (%)', tg_op using errcode = '42501';
end
$$;

create trigger audit_log_no_change before update or delete on auth.audit_log
    for each row execute function auth.audit_log_append_only();
create trigger audit_log_no_truncate before truncate on auth.audit_log
    for each statement execute function auth.audit_log_append_only();
