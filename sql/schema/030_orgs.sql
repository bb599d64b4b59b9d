/*
 * Organizations (tenants), their memberships and invitations.
 *
 * Every row here belongs to one organization, and Row Level Security (enabled and forced,
 * policies in sql/policies/orgs.sql) is what keeps one tenant's rows from another: the api
 * functions run as blossom_owner, and the policies let blossom_owner see an organization's
 * rows only when the caller of the request (app.current_user_id()) is one of its members.
 * Invitation tokens are never stored: only their SHA-256.
 */

/* Roles in an organization, strongest first (the enum's order). */
create type app.org_role as enum ('owner', 'admin', 'member');
comment on type app.org_role is
  'A member''s role: owner (everything, at least one per organization), admin (members and invitations), member (read).';

/* Organizations: the tenants. */
create table app.organizations (
  id app.org_id primary key default app.gen_id('org'),
  name text not null
    constraint organizations_name_length check (char_length(name) between 1 and 100),
  slug text collate "C" not null
    constraint organizations_slug_shape check (
      char_length(slug) <= 48 and slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
  created_by app.user_id references app.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  member_count integer not null default 0
    constraint organizations_member_count_not_negative check (member_count >= 0)
);
create unique index organizations_slug_key on app.organizations (slug);
/* Deleted by its owner (api.delete_organization): out of every reader's sight from then on, its
   rows purged afterwards, a bounded batch at a time (app.purge_deleted_organizations), its own
   row last. Deleting it whole in the owner's call took its every invitation and AI request with
   it, more than the API's statement timeout allows once its history is long (migration 0036). */
alter table app.organizations add column deleted_at timestamptz;
alter table app.organizations enable row level security;
alter table app.organizations force row level security;
comment on table app.organizations is 'Tenants. Every other tenant row carries an org_id.';
comment on column app.organizations.id is 'The organization''s id (org_...).';
comment on column app.organizations.name is 'Display name, 1 to 100 characters, trimmed.';
comment on column app.organizations.slug is 'Unique URL name made from the name at creation; kept on rename.';
comment on column app.organizations.created_by is 'Who created it (null once that account is deleted).';
comment on column app.organizations.created_at is 'When it was created.';
comment on column app.organizations.updated_at is 'When its name last changed.';
comment on column app.organizations.deleted_at is
  'When its owner deleted it; set, it is gone for every reader, and the hourly housekeeping purges its rows, then it.';
comment on column app.organizations.member_count is
  'How many memberships it has; kept by triggers on app.memberships (sql/functions/app/member_count.sql), never written by hand.';

/* Memberships: who belongs to which organization, with which role. */
create table app.memberships (
  id app.membership_id primary key default app.gen_id('mem'),
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  user_id app.user_id not null references app.users (id) on delete cascade,
  role app.org_role not null default 'member',
  joined_at timestamptz not null default now(),
  constraint memberships_org_id_user_id_key unique (org_id, user_id)
);
/* The caller's own memberships (app.my_memberships, used by every policy): an index-only scan. */
create index memberships_user_id_org_id_role_idx on app.memberships (user_id, org_id, role);
/* An organization's members in the order api.list_members pages them, and newest first, as
   ext.ai_org_activity takes the 20 who joined last. */
create index memberships_org_id_id_idx on app.memberships (org_id, id);
create index memberships_org_id_joined_at_id_idx on app.memberships (org_id, joined_at, id);
/* The organization's owners, counted whenever one would stop being one (app.owner_count): under
   the forced row security `role = 'owner'` is no index condition (enum equality is not
   leakproof), but an index whose predicate it is serves it, not every member. */
create index memberships_owners_org_id_idx on app.memberships (org_id) where role = 'owner';
alter table app.memberships enable row level security;
alter table app.memberships force row level security;
comment on table app.memberships is 'Who belongs to which organization. A user has at most one membership per organization.';
comment on column app.memberships.id is 'The membership''s id (mem_...).';
comment on column app.memberships.org_id is 'The organization.';
comment on column app.memberships.user_id is 'The member.';
comment on column app.memberships.role is 'owner, admin or member.';
comment on column app.memberships.joined_at is 'When the user joined (created the organization or accepted an invitation).';

/* Invitations: single use, valid 7 days, addressed to an email; the token goes out by mail only. */
create table app.invitations (
  id app.invitation_id primary key default app.gen_id('inv'),
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  email app.email not null,
  role app.org_role not null,
  token_hash bytea not null
    constraint invitations_token_hash_length check (octet_length(token_hash) = 32),
  invited_by app.user_id references app.users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '7 days',
  accepted_at timestamptz,
  accepted_by app.user_id references app.users (id) on delete set null,
  declined_at timestamptz,
  revoked_at timestamptz,
  constraint invitations_one_outcome check (
    num_nonnulls(accepted_at, declined_at, revoked_at) <= 1)
);
create unique index invitations_token_hash_key on app.invitations (token_hash);
/* At most one open invitation per organization and address. */
create unique index invitations_open_org_id_email_key on app.invitations (org_id, lower(email))
  where accepted_at is null and declined_at is null and revoked_at is null;
/* The open invitations of an organization in the order api.list_invitations pages them. */
create index invitations_open_org_id_id_idx on app.invitations (org_id, id)
  where accepted_at is null and declined_at is null and revoked_at is null;
/* A sender's open invitations in an organization, which they lose when they leave or lose their
   role (app.revoke_invitations_beyond_grant). */
create index invitations_open_org_id_invited_by_idx on app.invitations (org_id, invited_by)
  where accepted_at is null and declined_at is null and revoked_at is null;
/* The open invitations by expiry, which the hourly housekeeping closes once they expired
   (app.close_expired_invitations): otherwise they stayed in the open ones' indexes for ever, and
   a page of the open invitations walked past all of them (migration 0033). */
create index invitations_open_expires_at_idx on app.invitations (expires_at)
  where accepted_at is null and declined_at is null and revoked_at is null;
create index invitations_org_id_idx on app.invitations (org_id);
/* A day's invitations for the daily metrics (pipeline.org_daily_counts): those sent that day,
   and those accepted that day. Without them every refresh read every invitation ever sent,
   which the table keeps (migration 0029). */
create index invitations_created_at_idx on app.invitations (created_at);
create index invitations_accepted_at_idx on app.invitations (accepted_at) where accepted_at is not null;
alter table app.invitations enable row level security;
alter table app.invitations force row level security;
comment on table app.invitations is 'Invitations to join an organization, by email; single use, valid 7 days.';
comment on column app.invitations.id is 'The invitation''s id (inv_...).';
comment on column app.invitations.email is 'Who is invited; only the account with this email (case-insensitively) may accept.';
comment on column app.invitations.role is 'The role the invitee gets on accepting.';
comment on column app.invitations.token_hash is 'SHA-256 of the token sent by mail; the token itself is never stored.';
comment on column app.invitations.invited_by is 'Who sent it.';
comment on column app.invitations.expires_at is 'The token is refused from this time on (7 days after sending).';
comment on column app.invitations.accepted_at is 'When it was accepted (then it is spent).';
comment on column app.invitations.accepted_by is 'The account that accepted it.';
comment on column app.invitations.declined_at is 'When the invitee declined it.';
comment on column app.invitations.revoked_at is 'When an owner or admin revoked it.';

/* Memberships that ended (the member left or was removed), with when they began: a past day's
   metrics count the members at its end from these too (pipeline.org_daily_counts), not only
   from the memberships that still exist. They go with their organization. */
create table app.membership_departures (
  id bigint generated always as identity,
  org_id app.org_id not null references app.organizations (id) on delete cascade,
  user_id app.user_id not null references app.users (id) on delete cascade,
  joined_at timestamptz not null,
  departed_at timestamptz not null default now(),
  constraint membership_departures_pkey primary key (org_id, id)
);
/* A day's count reads the departures after its end; the cascades read by organization (the
   primary key) and by user. */
create index membership_departures_departed_at_idx on app.membership_departures (departed_at);
create index membership_departures_user_id_idx on app.membership_departures (user_id);
alter table app.membership_departures enable row level security;
alter table app.membership_departures force row level security;
comment on table app.membership_departures is
  'Memberships that ended (app.end_membership), kept so that a past day''s metrics count who was a member at its end.';
comment on column app.membership_departures.org_id is 'The organization.';
comment on column app.membership_departures.user_id is 'The member who left or was removed.';
comment on column app.membership_departures.joined_at is 'When the membership began.';
comment on column app.membership_departures.departed_at is 'When it ended.';

/* An organization's audit trail, newest first, keyset-paginated by id (ids are time-ordered). */
create index audit_events_org_id_id_idx on app.audit_events (org_id, id) where org_id is not null;

/* What the organization RPCs return. Composite attributes cannot be NOT NULL; a column comment
   ending in @notnull promises it for the generated clients (codegen). */
create type api.organization as (
  id app.org_id,
  name text,
  slug text,
  role app.org_role,
  member_count integer,
  created_at timestamptz,
  updated_at timestamptz
);
comment on type api.organization is 'An organization as its members see it, with the caller''s role and the member count.';
comment on column api.organization.id is 'The organization''s id. @notnull';
comment on column api.organization.name is 'Its name, as given. @notnull';
comment on column api.organization.slug is 'Unique URL slug made from the name. @notnull';
comment on column api.organization.role is 'The caller''s role in it. @notnull';
comment on column api.organization.member_count is 'How many members it has. @notnull';
comment on column api.organization.created_at is 'When it was created. @notnull';
comment on column api.organization.updated_at is 'When it was last renamed. @notnull';

create type api.member as (
  membership_id app.membership_id,
  user_id app.user_id,
  email text,
  display_name text,
  role app.org_role,
  joined_at timestamptz
);
comment on type api.member is 'A member of an organization, as list_members and change_member_role return it.';
comment on column api.member.membership_id is 'The membership''s id. @notnull';
comment on column api.member.user_id is 'The member''s user id. @notnull';
comment on column api.member.email is 'The member''s email. @notnull';
comment on column api.member.display_name is 'The member''s display name. @notnull';
comment on column api.member.role is 'Their role in the organization. @notnull';
comment on column api.member.joined_at is 'When they joined. @notnull';

create type api.invitation as (
  id app.invitation_id,
  org_id app.org_id,
  email text,
  role app.org_role,
  invited_by app.user_id,
  created_at timestamptz,
  expires_at timestamptz
);
comment on type api.invitation is 'A pending invitation (never its token).';
comment on column api.invitation.id is 'The invitation''s id. @notnull';
comment on column api.invitation.org_id is 'The organization invited to. @notnull';
comment on column api.invitation.email is 'The invited email. @notnull';
comment on column api.invitation.role is 'The role it grants. @notnull';
comment on column api.invitation.invited_by is 'Who invited; null once that account is deleted.';
comment on column api.invitation.created_at is 'When it was sent. @notnull';
comment on column api.invitation.expires_at is 'When it stops working. @notnull';

create type api.audit_event as (
  id app.event_id,
  at timestamptz,
  actor_id app.user_id,
  action text,
  target text,
  details jsonb
);
comment on type api.audit_event is 'One entry of an organization''s audit trail.';
comment on column api.audit_event.id is 'The event''s id; ids sort by time. @notnull';
comment on column api.audit_event.at is 'When it happened. @notnull';
comment on column api.audit_event.actor_id is 'Who did it; null for the system or a deleted account.';
comment on column api.audit_event.action is 'What happened, e.g. org.member_removed. @notnull';
comment on column api.audit_event.target is 'What it happened to, when there is one.';
comment on column api.audit_event.details is 'More facts as JSON; never secrets. @notnull';
