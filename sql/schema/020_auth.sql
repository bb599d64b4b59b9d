/*
 * Users, their secrets and sessions, rate limits, password resets, the outbox and the audit
 * trail. Nobody but blossom_owner touches these tables: the functions in sql/functions/auth
 * (SECURITY DEFINER, owned by blossom_owner) are the only way in, and Row Level Security is
 * enabled and forced on every table so that a stray grant would still show no row.
 * Secrets never appear in plain text: passwords as bcrypt hashes, tokens as SHA-256.
 */

/* An email as a person typed it: shape of the WHATWG HTML rule, at most 254 characters. */
create domain app.email as text
  constraint email_shape check (
    char_length(value) <= 254
    and value ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$'
  );
comment on domain app.email is
  'An email address as given; compared case-insensitively (users are unique on lower(email)).';

/* Users: the public part of an account. The password lives in app.user_secrets. */
create table app.users (
  id app.user_id primary key default app.gen_id('usr'),
  email app.email not null,
  display_name text not null
    constraint users_display_name_length check (char_length(display_name) between 1 and 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  email_verified_at timestamptz,
  last_seen_at timestamptz
);
create unique index users_email_lower_key on app.users (lower(email));
alter table app.users enable row level security;
alter table app.users force row level security;
comment on table app.users is 'People who can sign in. One row per account.';
comment on column app.users.id is 'The user''s id (usr_...).';
comment on column app.users.email is 'Email as given at sign-up; unique case-insensitively.';
comment on column app.users.display_name is 'Name shown to other people, 1 to 100 characters.';
comment on column app.users.created_at is 'When the account was created.';
comment on column app.users.updated_at is 'When the profile last changed.';
comment on column app.users.email_verified_at is
  'When the account proved it reads its email (a verification link, or an accepted invitation); null until then.';
comment on column app.users.last_seen_at is
  'When a session of the account deleted by the housekeeping was last used (pipeline.purge_auth); its live sessions say since.';

/* Secrets: a private 1:1 table, so that no query on users can ever reach a hash. */
create table app.user_secrets (
  user_id app.user_id primary key references app.users (id) on delete cascade,
  password_hash text not null,
  password_changed_at timestamptz not null default now()
);
alter table app.user_secrets enable row level security;
alter table app.user_secrets force row level security;
comment on table app.user_secrets is 'Password hashes, one per user; read only by the auth functions.';
comment on column app.user_secrets.password_hash is
  'bcrypt (pgcrypto crypt, $2a$) over base64(HMAC-SHA-256(password)): see auth.password_prehash.';
comment on column app.user_secrets.password_changed_at is 'When the password was last set.';

/* Sessions: the cookie holds a random token; only its SHA-256 is kept here. */
create table app.sessions (
  id app.session_id primary key default app.gen_id('ses'),
  user_id app.user_id not null references app.users (id) on delete cascade,
  token_hash bytea not null unique
    constraint sessions_token_hash_length check (octet_length(token_hash) = 32),
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  user_agent text constraint sessions_user_agent_length check (char_length(user_agent) <= 512),
  client_addr inet,
  device_token_hash bytea
    constraint sessions_device_token_hash_length check (octet_length(device_token_hash) = 32)
);
/* Every session of a user, revoked ones too: a user's deletion deletes them all (the foreign key's
   cascade), and admin.users reads when each was last seen. Partial (the live ones), it served
   neither, and each read every session of every user. */
create index sessions_user_id_idx on app.sessions (user_id);
create index sessions_expires_at_idx on app.sessions (expires_at);
alter table app.sessions enable row level security;
alter table app.sessions force row level security;
comment on table app.sessions is 'Signed-in sessions. A session is valid until expired, idle too long or revoked.';
comment on column app.sessions.id is 'The session''s id (ses_...), safe to show; the token is not.';
comment on column app.sessions.token_hash is 'SHA-256 of the session token; the token itself is never stored.';
comment on column app.sessions.created_at is 'When the session was issued (sign-up or login).';
comment on column app.sessions.last_seen_at is 'Last use (updated at most once a minute, by writing requests).';
comment on column app.sessions.expires_at is 'Absolute end of the session.';
comment on column app.sessions.revoked_at is 'When the session was revoked (logout, password change or reset).';
comment on column app.sessions.user_agent is 'User-Agent at login, cut to 512 characters.';
comment on column app.sessions.client_addr is 'Client address at login (peer or trusted proxy''s X-Forwarded-For).';
comment on column app.sessions.device_token_hash is
  'SHA-256 of the device cookie of the browser it was issued to (app.devices); a later sign-in of the account from that browser ends it.';

/* Devices: a browser the accounts signed in from, named by a long-lived cookie (only its
   SHA-256 is kept); one row per account that signed in from it. A login from a known device of
   the account is limited on its own, so that guesses from elsewhere can never lock the owner
   out of their own browser. */
create table app.devices (
  token_hash bytea not null
    constraint devices_token_hash_length check (octet_length(token_hash) = 32),
  user_id app.user_id not null references app.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_used_at timestamptz not null default now(),
  constraint devices_pkey primary key (token_hash, user_id)
);
create index devices_user_id_idx on app.devices (user_id);
alter table app.devices enable row level security;
alter table app.devices force row level security;
comment on table app.devices is
  'Browsers that signed in to an account (the device cookie), a row per account; forgotten a year after their last sign-in.';
comment on column app.devices.token_hash is 'SHA-256 of the device cookie''s token; the token itself is never stored.';
comment on column app.devices.user_id is 'An account that signed in from it.';
comment on column app.devices.created_at is 'The first sign-in from it.';
comment on column app.devices.last_used_at is 'The last sign-in from it.';

/* Rate limits: one row per counted event; counted over a sliding window by kind and key. */
create table app.rate_limit_hits (
  id bigint generated always as identity primary key,
  kind text not null constraint rate_limit_hits_kind_shape check (kind ~ '^[a-z_]+(\.[a-z_]+)+$'),
  key text not null constraint rate_limit_hits_key_length check (char_length(key) <= 320),
  at timestamptz not null default now()
);
create index rate_limit_hits_kind_key_at_idx on app.rate_limit_hits (kind, key, at);
alter table app.rate_limit_hits enable row level security;
alter table app.rate_limit_hits force row level security;
comment on table app.rate_limit_hits is
  'Events that rate limits count, e.g. failed logins per lower-cased email (login.email) or per address (login.addr).';
comment on column app.rate_limit_hits.kind is
  'What is counted, e.g. login.pair, login.email, login.addr, login.device, signup.addr, signup.all (README, Security).';
comment on column app.rate_limit_hits.key is 'Who it is counted for: a lower-cased email, a client address, both, or a device.';
comment on column app.rate_limit_hits.at is 'When it happened.';

/* Password resets: single use, short-lived; only the token's SHA-256 is kept. */
create table app.password_resets (
  token_hash bytea primary key
    constraint password_resets_token_hash_length check (octet_length(token_hash) = 32),
  user_id app.user_id not null references app.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  client_addr inet
);
create index password_resets_user_id_idx on app.password_resets (user_id);
alter table app.password_resets enable row level security;
alter table app.password_resets force row level security;
comment on table app.password_resets is 'Password-reset tokens: valid one hour, spent on first use.';
comment on column app.password_resets.token_hash is 'SHA-256 of the token sent by mail.';
comment on column app.password_resets.expires_at is 'The token is refused from this time on.';
comment on column app.password_resets.used_at is 'When the token was spent (or voided by another reset).';
comment on column app.password_resets.client_addr is 'Address the reset was requested from.';

/* Email verifications: single use, valid 24 hours; only the token's SHA-256 is kept. */
create table app.email_verifications (
  token_hash bytea primary key
    constraint email_verifications_token_hash_length check (octet_length(token_hash) = 32),
  user_id app.user_id not null references app.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index email_verifications_user_id_idx on app.email_verifications (user_id);
alter table app.email_verifications enable row level security;
alter table app.email_verifications force row level security;
comment on table app.email_verifications is 'Email-verification tokens: valid 24 hours, spent on first use.';
comment on column app.email_verifications.token_hash is 'SHA-256 of the token sent by mail.';
comment on column app.email_verifications.user_id is 'The account whose email it verifies.';
comment on column app.email_verifications.created_at is 'When it was sent.';
comment on column app.email_verifications.expires_at is 'The token is refused from this time on.';
comment on column app.email_verifications.used_at is 'When the token was spent.';

/* Outbox: every message to the outside world, written in the transaction that causes it.
   Here and in the audit trail, request_id defaults to app.request_id when it has a request id's
   shape (1 to 63 of A-Z a-z 0-9 . _ : / + = -), tested as a length and `+`: written with {1,63},
   as the older CHECK is, the test took Postgres's regex engine 20 us an insert. */
create table app.outbox (
  id app.event_id primary key default app.gen_id('evt'),
  topic text not null constraint outbox_topic_shape check (topic ~ '^[a-z_]+(\.[a-z_]+)+$'),
  payload jsonb not null,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  attempts integer not null default 0 constraint outbox_attempts_not_negative check (attempts >= 0),
  last_attempt_at timestamptz,
  last_error text,
  given_up_at timestamptz,
  request_id text
    default case when pg_catalog.octet_length(pg_catalog.current_setting('app.request_id', true)) <= 63
                  and pg_catalog.current_setting('app.request_id', true) ~ '^[A-Za-z0-9._:/+=-]+$'
                 then pg_catalog.current_setting('app.request_id', true) end
    constraint outbox_request_id_shape check (request_id ~ '^[A-Za-z0-9._:/+=-]{1,63}$')
);
create index outbox_pending_idx on app.outbox (created_at) where delivered_at is null;
alter table app.outbox enable row level security;
alter table app.outbox force row level security;
comment on table app.outbox is
  'Messages to deliver (mail, ...), queued in the same transaction as the change; workers deliver with retries.';
comment on column app.outbox.topic is 'What kind of message, e.g. mail.password_reset.';
comment on column app.outbox.payload is 'Everything delivery needs; for mail the recipient (to) and the token or link.';
comment on column app.outbox.delivered_at is 'When delivery succeeded; null while pending.';
comment on column app.outbox.attempts is 'How many deliveries were tried.';
comment on column app.outbox.last_attempt_at is 'When delivery was last tried.';
comment on column app.outbox.last_error is 'Why the last attempt failed.';
comment on column app.outbox.given_up_at is
  'When delivery was given up (a permanent refusal, or too many attempts); it is never tried again.';
comment on column app.outbox.request_id is
  'The request that queued it (app.request_id, set by the pre-request or the edge); its delivery job carries it.';

/* Audit trail: who did what, when and from where; never a password or a token. */
create table app.audit_events (
  id app.event_id primary key default app.gen_id('evt'),
  at timestamptz not null default now(),
  actor_id app.user_id references app.users (id) on delete set null,
  action text not null constraint audit_events_action_shape check (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
  org_id app.org_id,
  target text,
  client_addr inet,
  details jsonb not null default '{}',
  request_id text
    default case when pg_catalog.octet_length(pg_catalog.current_setting('app.request_id', true)) <= 63
                  and pg_catalog.current_setting('app.request_id', true) ~ '^[A-Za-z0-9._:/+=-]+$'
                 then pg_catalog.current_setting('app.request_id', true) end
    constraint audit_events_request_id_shape check (request_id ~ '^[A-Za-z0-9._:/+=-]{1,63}$')
);
create index audit_events_actor_id_at_idx on app.audit_events (actor_id, at);
/* The events of a time range (a day of the pipeline's metrics, pipeline.org_daily_counts) read
   without a pass over the whole trail, which only grows. */
create index audit_events_at_idx on app.audit_events (at);
alter table app.audit_events enable row level security;
alter table app.audit_events force row level security;
comment on table app.audit_events is 'Security-relevant events: sign-up, logins, logouts, password changes and resets.';
comment on column app.audit_events.at is 'When it happened.';
comment on column app.audit_events.actor_id is 'Who did it, when known (null for a failed login of an unknown email).';
comment on column app.audit_events.action is 'What happened, e.g. auth.login_failed.';
comment on column app.audit_events.org_id is 'The organization concerned, for tenant events.';
comment on column app.audit_events.target is 'What it happened to, e.g. the lower-cased email of a login attempt.';
comment on column app.audit_events.client_addr is 'Client address of the request.';
comment on column app.audit_events.details is 'More facts as JSON; never secrets.';
comment on column app.audit_events.request_id is
  'The request that caused it (app.request_id, set by the pre-request or the edge), as in the logs.';

/* What api.me and api.update_profile return: a user as the API shows it. */
create type api.user_profile as (
  id app.user_id,
  email text,
  display_name text,
  created_at timestamptz,
  email_verified boolean
);
comment on type api.user_profile is 'A user''s public profile, as api.me returns it.';
comment on column api.user_profile.id is 'The user''s id. @notnull';
comment on column api.user_profile.email is 'Email as given at sign-up. @notnull';
comment on column api.user_profile.display_name is 'Name shown to other people. @notnull';
comment on column api.user_profile.created_at is 'When the account was created. @notnull';
comment on column api.user_profile.email_verified is 'Whether the account proved it reads its email. @notnull';
