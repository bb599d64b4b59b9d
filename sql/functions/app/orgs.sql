/*
 * Helpers for the organization policies and RPCs. All run as blossom_owner (the api functions
 * are SECURITY DEFINER), to which Row Level Security applies because it is forced.
 *
 * The policies read the caller's memberships through app.my_memberships, a view made in
 * sql/views/app_my_memberships.sql (which says why it is a view owned by membership_reader).
 */

/* The caller's role in an organization, or null when they are not a member. The caller is
   compared as app.current_user_key() (sql/functions/app/current_user.sql), whose comparison is
   leakproof and so an index condition under the table's row security: with
   app.current_user_id(), whose cast to the domain is not, only the organization was: where one
   tenant held most memberships, the generic plan scanned the table for every call, by anyone
   (get_organization of a 1-member organization beside one of 100,000: 15.6 ms; 0.3 ms now). */
create function app.my_role(p_org app.org_id) returns app.org_role
language sql stable parallel safe
begin atomic
  select m.role from app.memberships m
   where m.org_id = p_org and m.user_id = (app.current_user_key() collate "C");
end;

comment on function app.my_role(app.org_id) is 'The signed-in user''s role in the organization, or null.';

create function app.is_member(p_org app.org_id) returns boolean
language sql stable parallel safe
return app.my_role(p_org) is not null;

comment on function app.is_member(app.org_id) is 'Whether the signed-in user is a member of the organization.';

/* Invitations are reachable by whoever holds the token: the accepting function puts the
   token's SHA-256 in app.invitation_token_hash for its transaction. */
create function app.presented_invitation_hash() returns bytea
language sql stable parallel safe
return pg_catalog.decode(
  nullif(pg_catalog.current_setting('app.invitation_token_hash', true), ''), 'hex');

comment on function app.presented_invitation_hash() is
  'SHA-256 of the invitation token presented in this transaction (by accept or decline), or null.';

/* Who may insert a membership for themselves: the creator of an organization made in this
   very transaction (as its owner), or the holder of a valid invitation addressed to them. */
create function app.may_join(p_org app.org_id, p_role app.org_role) returns boolean
language sql stable parallel restricted
begin atomic
  select exists (
           select from app.organizations o
            where o.id = p_org and p_role = 'owner'
              and o.created_by = (app.current_user_key() collate "C") and o.created_at = pg_catalog.now())
      or exists (
           select from app.invitations i join app.users u on u.id = (app.current_user_key() collate "C")
            where i.token_hash = app.presented_invitation_hash()
              and i.org_id = p_org and i.role = p_role
              and pg_catalog.lower(i.email) = pg_catalog.lower(u.email)
              and i.revoked_at is null and i.declined_at is null
              and (i.accepted_at is null or i.accepted_by = u.id)
              and i.expires_at > pg_catalog.now());
end;

comment on function app.may_join(app.org_id, app.org_role) is
  'For the memberships insert policy: may the signed-in user add themselves to the organization with this role?';

/* A name's letters as the ASCII letters a slug is made of, as far as they are Latin letters with
   accents (decomposed, NFKD, and the marks dropped: é is e, Å is A, ﬁ is fi, a fullwidth A is A)
   or the few Latin letters that decompose into none (ß, æ, œ, ø, đ, ð, ł, ħ, ı, ŧ, þ): word by word,
   "Café Crème" was caf-cr-me. Other scripts are left as they are, and app.slugify drops them. */
create function app.slug_letters(p_name text) returns text
language sql immutable parallel safe
return pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
  pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
    pg_catalog.translate(
      pg_catalog.regexp_replace(pg_catalog.normalize(p_name, 'NFKD'), '[\u0300-\u036F]', '', 'g'),
      'ØøĐđÐðŁłĦħıŦŧ', 'OoDdDdLlHhiTt'),
    'ß', 'ss'), 'ẞ', 'SS'), 'æ', 'ae'), 'Æ', 'AE'), 'œ', 'oe'), 'Œ', 'OE'), 'þ', 'th'), 'Þ', 'TH');

comment on function app.slug_letters(text) is
  'The name with its accented and other Latin letters written in ASCII letters (é: e, ß: ss, ø: o, ð: d), for app.slugify.';

/* The part of a slug that comes from the name: lower-case ASCII letters and digits joined by
   single hyphens (api.create_organization adds a hyphen and a random suffix). */
create function app.slugify(p_name text) returns text
language sql immutable parallel safe
return coalesce(
  nullif(pg_catalog.btrim(pg_catalog.left(pg_catalog.btrim(
    pg_catalog.regexp_replace(pg_catalog.lower(app.slug_letters(p_name)), '[^a-z0-9]+', '-', 'g'), '-'), 40), '-'), ''),
  'org');

comment on function app.slugify(text) is 'The name''s part of a URL slug, at most 40 characters; ''org'' when nothing is left.';

/* Membership changes that count owners are serialized per organization by this lock, taken
   before any owner is counted: two owners demoting each other, or the last two leaving at
   once, run one after the other and the second sees the first's result. */
create function app.lock_org(p_org app.org_id) returns void
language sql volatile
begin atomic
  select pg_catalog.pg_advisory_xact_lock(util.lock_key('org:' || p_org));
end;

comment on function app.lock_org(app.org_id) is
  'Takes the transaction''s exclusive lock on an organization''s memberships (owner-count checks).';

create function app.owner_count(p_org app.org_id) returns integer
language sql stable parallel safe
begin atomic
  select pg_catalog.count(*)::integer from app.memberships m
   where m.org_id = p_org and m.role = 'owner';
end;

comment on function app.owner_count(app.org_id) is 'How many owners the organization has (as far as the caller may see).';

/* An organization as the API returns it, for a member. */
create function app.organization_view(p_org app.org_id) returns api.organization
language sql stable parallel safe
begin atomic
  select o.id, o.name, o.slug::text, app.my_role(o.id), o.member_count, o.created_at, o.updated_at
    from app.organizations o
   where o.id = p_org;
end;

comment on function app.organization_view(app.org_id) is 'The organization as api functions return it (null when not visible).';

/* The audit trail of an organization: written by each RPC in its own transaction. */
create function app.org_audit(p_org app.org_id, p_action text, p_target text, p_details jsonb default '{}')
returns void
language sql volatile
begin atomic
  insert into app.audit_events (actor_id, action, org_id, target, details)
  values (app.current_user_id(), p_action, p_org, p_target, coalesce(p_details, '{}'));
end;

comment on function app.org_audit(app.org_id, text, text, jsonb) is
  'Records an organization event for the signed-in user in app.audit_events.';

/* The outbox: messages and notifications that workers deliver after commit. The organization's
   name as it is now goes with them (unless the payload names it already): a worker delivering
   later reads no tenant table, and an organization renamed or deleted meanwhile is still the
   one the message speaks of. */
create function app.org_notify(p_topic text, p_payload jsonb) returns void
language sql volatile
begin atomic
  insert into app.outbox (topic, payload)
  select p_topic, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('org_name', o.name)) || p_payload
    from (select) as one
    left join app.organizations o on o.id = (p_payload ->> 'org_id') collate "C";
end;

comment on function app.org_notify(text, jsonb) is
  'Queues an outbox message (mail or notification), with the name of the organization it names (org_id) as of now.';

/* Membership and invitation rows keep their identity: only the role (memberships) and the
   outcome (invitations) ever change, so a policy that lets a row be updated cannot move it to
   another organization or another person. */
create function app.tg_memberships__keep_identity() returns trigger
language plpgsql
as $$
begin
  if new.id <> old.id or new.org_id <> old.org_id or new.user_id <> old.user_id
     or new.joined_at <> old.joined_at then
    raise exception 'a membership''s organization, user and join time never change'
      using errcode = '42501';
  end if;
  return new;
end
$$;

comment on function app.tg_memberships__keep_identity() is 'Refuses updates of a membership other than its role.';

create trigger keep_identity before update on app.memberships
  for each row execute function app.tg_memberships__keep_identity();

create function app.tg_invitations__keep_identity() returns trigger
language plpgsql
as $$
begin
  if (new.id, new.org_id, new.email, new.role, new.token_hash, new.created_at, new.expires_at)
     is distinct from (old.id, old.org_id, old.email, old.role, old.token_hash, old.created_at, old.expires_at)
     or (new.invited_by is not null and new.invited_by is distinct from old.invited_by) then
    raise exception 'an invitation''s organization, address, role and token never change'
      using errcode = '42501';
  end if;
  /* From pending to one outcome; or an account deleted (ids set null). */
  if (new.accepted_at, new.declined_at, new.revoked_at)
       is distinct from (old.accepted_at, old.declined_at, old.revoked_at)
     and pg_catalog.num_nonnulls(old.accepted_at, old.declined_at, old.revoked_at) > 0 then
    raise exception 'an invitation changes once, from pending to accepted, declined or revoked'
      using errcode = '42501';
  end if;
  return new;
end
$$;

comment on function app.tg_invitations__keep_identity() is 'Refuses updates of an invitation other than its one outcome.';

create trigger keep_identity before update on app.invitations
  for each row execute function app.tg_invitations__keep_identity();

/* The caller's role in an organization they must be a member of: 404 org.not_found for a
   non-member, so that an organization's existence does not leak. Signed-out callers are
   stopped before, by auth.require_user. */
create function app.require_membership(p_org app.org_id) returns app.org_role
language plpgsql stable
as $$
declare
  v_role app.org_role := app.my_role(p_org);
begin
  if v_role is null then
    perform util.raise_error(404, 'org.not_found', 'No such organization.');
  end if;
  return v_role;
end
$$;

comment on function app.require_membership(app.org_id) is
  'The signed-in user''s role in the organization; 404 org.not_found unless a member.';

/* The caller's role in an organization, which must be one of `p_roles`: as
   app.require_membership, then 403 org.forbidden for a member without one of them. Two
   functions, not one with an optional list, so that the codes each can raise are the codes
   its callers can raise (codegen reads them from the bodies). */
create function app.require_role(p_org app.org_id, p_roles app.org_role[])
returns app.org_role
language plpgsql stable
as $$
declare
  v_role app.org_role := app.require_membership(p_org);
begin
  if not v_role = any (p_roles) then
    perform util.raise_error(403, 'org.forbidden', 'Your role in this organization does not allow this.');
  end if;
  return v_role;
end
$$;

comment on function app.require_role(app.org_id, app.org_role[]) is
  'The signed-in user''s role in the organization; 404 org.not_found unless a member, 403 org.forbidden without one of the roles.';

/* The organization's lock (app.lock_org), taken for a member only: anyone signed in who knew an
   organization's id took its lock with each call before being found no member, queued behind its
   deletion (a PostgREST connection held up to the statement timeout), and made its members'
   calls queue behind theirs. The caller reads its role again once it holds the lock
   (app.require_role, app.require_membership): a removal or a deletion may have come first. And
   its session is read again here (auth.require_live_session): it may have been revoked while the
   call waited. */
create function app.lock_org_as_member(p_org app.org_id) returns void
language plpgsql volatile
as $$
begin
  perform app.require_membership(p_org);
  perform app.lock_org(p_org);
  perform auth.require_live_session();
end
$$;

comment on function app.lock_org_as_member(app.org_id) is
  'Takes the organization''s lock (app.lock_org) for a member of it, whose session is still live once it holds it; 404 org.not_found, without it, for anyone else; 401 auth.not_signed_in when the session was revoked meanwhile.';

/* Another member's role in an organization: 404 member.not_found when they are not one. */
create function app.require_member(p_org app.org_id, p_user app.user_id) returns app.org_role
language plpgsql stable
as $$
declare
  v_role app.org_role;
begin
  select m.role into v_role from app.memberships m where m.org_id = p_org and m.user_id = p_user;
  if not found then
    perform util.raise_error(404, 'member.not_found', 'No such member in this organization.');
  end if;
  return v_role;
end
$$;

comment on function app.require_member(app.org_id, app.user_id) is
  'The user''s role in the organization; 404 member.not_found when not a member.';

/* A membership ends (the member leaves or is removed), and is kept as a departure with when it
   began, so that a past day's metrics still count the member (pipeline.org_daily_counts).
   Whether it found the membership: the caller read it before, and a removal of one taken since
   had audited and announced to Slack what no one did. (An operator's deletion of the account
   took it so; it now waits for the organization's lock first, app.tg_users__keep_an_owner.) */
create function app.end_membership(p_org app.org_id, p_user app.user_id) returns boolean
language sql volatile
begin atomic
  with ended as (
    delete from app.memberships m where m.org_id = p_org and m.user_id = p_user
    returning m.org_id, m.user_id, m.joined_at
  ), recorded as (
    insert into app.membership_departures (org_id, user_id, joined_at)
    select e.org_id, e.user_id, e.joined_at from ended e
    returning 1
  )
  select pg_catalog.count(*) > 0 from recorded;
end;

comment on function app.end_membership(app.org_id, app.user_id) is
  'Deletes the membership and records its departure (app.membership_departures); whether there was one.';

/* Before an owner stops being one: 409 org.last_owner when they are the only one. Callers
   hold the organization's lock (app.lock_org), so two owners cannot both pass at once. */
create function app.require_another_owner(
  p_org app.org_id,
  p_message text default 'An organization keeps at least one owner; transfer ownership first.'
) returns void
language plpgsql stable
as $$
begin
  if app.owner_count(p_org) <= 1 then
    perform util.raise_error(409, 'org.last_owner', p_message);
  end if;
end
$$;

comment on function app.require_another_owner(app.org_id, text) is
  '409 org.last_owner unless the organization has another owner than the one about to stop being one.';

/* A role given as text: 422 org.invalid_role unless owner, admin or member. */
create function app.parse_role(p_role text) returns app.org_role
language plpgsql stable
as $$
begin
  if p_role is null or p_role not in ('owner', 'admin', 'member') then
    perform util.raise_error(422, 'org.invalid_role', 'The role must be owner, admin or member.');
  end if;
  return p_role::app.org_role;
end
$$;

comment on function app.parse_role(text) is 'The role named by the text; 422 org.invalid_role otherwise.';

/* An organization's name: trimmed, and right by the rule of names shown to others
   (app.name_fault); else 422. */
create function app.valid_org_name(p_name text) returns text
language plpgsql stable
as $$
declare
  v_name text := app.trimmed_name(p_name);
begin
  case app.name_fault(v_name)
    when 'shape' then
      perform util.raise_error(422, 'org.invalid_name',
        'An organization''s name has 1 to 100 characters, not all blank, without control characters.');
    when 'hidden' then
      perform util.raise_error(422, 'org.invalid_name',
        'An organization''s name cannot hold bidi controls or invisible characters (such as zero-width spaces).');
    else
      null;
  end case;
  return v_name;
end
$$;

comment on function app.valid_org_name(text) is
  'The trimmed name; 422 org.invalid_name when empty, too long, or with control, bidi-control or invisible characters.';

/* The pending invitation a token stands for, presented by the signed-in user: it becomes
   visible to this transaction through the token_holder policy. 400 invitation.invalid when
   the token is unknown, spent, revoked or expired; 403 invitation.wrong_account when it was
   sent to another address than the caller's. */
create function app.presented_invitation(p_token text) returns app.invitations
language plpgsql volatile
as $$
declare
  v_invitation app.invitations;
  v_email text;
begin
  if not util.token_is_wellformed(p_token) then
    perform util.raise_error(400, 'invitation.invalid', 'This invitation is unknown, used, revoked or expired.');
  end if;
  perform pg_catalog.set_config('app.invitation_token_hash', pg_catalog.encode(util.token_hash(p_token), 'hex'), true);
  select i.* into v_invitation from app.invitations i where i.token_hash = util.token_hash(p_token);
  if not found or v_invitation.accepted_at is not null or v_invitation.declined_at is not null
     or v_invitation.revoked_at is not null or v_invitation.expires_at <= pg_catalog.now() then
    perform util.raise_error(400, 'invitation.invalid', 'This invitation is unknown, used, revoked or expired.');
  end if;
  select u.email::text into v_email from app.users u where u.id = (app.current_user_key() collate "C");
  if v_email is null or pg_catalog.lower(v_email) <> pg_catalog.lower(v_invitation.email) then
    perform util.raise_error(403, 'invitation.wrong_account',
      'This invitation was sent to another email address; sign in with that account.');
  end if;
  return v_invitation;
end
$$;

comment on function app.presented_invitation(text) is
  'The pending invitation of a token, for the signed-in invitee; 400 invitation.invalid or 403 invitation.wrong_account otherwise.';
