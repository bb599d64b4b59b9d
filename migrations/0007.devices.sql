-- devices: browsers an account has signed in from (sql/schema/020_auth.sql), for the login limits.
-- Runs as blossom_owner in one transaction.
create table app.devices (
  token_hash bytea primary key
    constraint devices_token_hash_length check (octet_length(token_hash) = 32),
  user_id app.user_id not null references app.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_used_at timestamptz not null default now()
);
create index devices_user_id_idx on app.devices (user_id);
alter table app.devices enable row level security;
alter table app.devices force row level security;
comment on table app.devices is
  'Browsers that signed in to an account (the device cookie); forgotten a year after their last sign-in.';
comment on column app.devices.token_hash is 'SHA-256 of the device cookie''s token; the token itself is never stored.';
comment on column app.devices.user_id is 'The account that signed in from it.';
comment on column app.devices.created_at is 'The first sign-in from it.';
comment on column app.devices.last_used_at is 'The last sign-in from it.';

comment on column app.rate_limit_hits.kind is
  'What is counted, e.g. login.pair, login.email, login.addr, login.device, signup.addr, signup.all (README, Security).';
comment on column app.rate_limit_hits.key is 'Who it is counted for: a lower-cased email, a client address, both, or a device.';
