/*
 * An invitation stands only while the member who sent it may still grant its role: an owner
 * any role, an admin admin or member, a member none (app.may_invite). Otherwise an admin who
 * is removed keeps a way back: an invitation they sent a second account of theirs before.
 *
 * So when a membership's role goes down or the membership goes (removed, left, demoted by
 * change_member_role or by transfer_ownership), the trigger below revokes that member's
 * pending invitations in the organization that their role now could not send, and records
 * each in the audit trail: one place, on the table, which no function can forget. An account
 * deleted (by an operator) loses all of them, by a trigger on app.users (at the end). Accepting
 * checks the rule again (app.inviter_may_grant, in api.accept_invitation).
 *
 * Why functions owned by invitation_revoker: the trigger often runs for someone who may not
 * touch the organization's invitations (any more), such as a leaver, whose membership is gone
 * when an AFTER trigger runs, or an owner who made themselves a member; and the invitee who
 * accepts may not read the inviter's membership. So the reading and the revoking are done as
 * invitation_revoker, a role that cannot log in, is granted only the columns these
 * functions use (sql/grants/app.sql) and has policies for itself alone (sql/policies/orgs.sql).
 * Neither takes a decision from its caller: both apply the rule to what the tables hold, so a
 * call can only revoke invitations that could no longer be accepted anyway. They are made here
 * as invitation_revoker so that it owns them (`just migrate` drops them as that role too). The
 * audit rows are written by the trigger function, as the caller, like every organization event.
 */

/* Whether a member with one role may invite with another (null: not a member, may not). */
create function app.may_invite(p_inviter app.org_role, p_role app.org_role) returns boolean
language sql immutable parallel safe
return coalesce(p_inviter = 'owner' or (p_inviter = 'admin' and p_role <> 'owner'), false);

comment on function app.may_invite(app.org_role, app.org_role) is
  'Whether a member with role p_inviter (null: no member) may invite with role p_role: an owner any role, an admin admin or member.';

/* Made by their owner, who may create in the schema only for that moment; what it may read and
   revoke, and who may call these functions, is in sql/grants/app.sql. */
grant usage, create on schema app to invitation_revoker;
set local role invitation_revoker;

/* The rule, on the inviter's role as it is now. */
create function app.inviter_may_grant(p_org app.org_id, p_inviter app.user_id, p_role app.org_role)
returns boolean
language sql stable security definer set search_path = ''
begin atomic
  select app.may_invite(
    (select m.role from app.memberships m where m.org_id = p_org and m.user_id = p_inviter), p_role);
end;

comment on function app.inviter_may_grant(app.org_id, app.user_id, app.org_role) is
  'Whether the user''s current role in the organization (if any) may still grant the role: an invitation they sent stands only while it does.';

/* Revokes the inviter's pending invitations in the organization that they may no longer grant,
   and returns them. Nothing when the organization is gone (its invitations go with it).
   PL/pgSQL with custom plans only: the statement is planned for this inviter and organization.
   As a SQL function it had one plan for any argument, estimated from the column's distinct
   senders alone: where nearly every invitation was one sender's (a handful of senders), an
   admin with one invitation was taken to have nearly all of them, and the update read every
   invitation of the organization (sql/tests/orgs_departing_inviter_reads.sql). Planned with the
   values, the statistics say the admin sent few, and invitations_open_org_id_invited_by_idx
   finds them; a plan cached after five calls could fall back to the generic one, hence the
   setting. */
create function app.revoke_invitations_beyond_grant(p_org app.org_id, p_inviter app.user_id)
returns table (id app.invitation_id, email text, role app.org_role)
language plpgsql volatile security definer set search_path = '' set plan_cache_mode = force_custom_plan
as $$
begin
  return query
  update app.invitations i set revoked_at = pg_catalog.now()
    -- The inviter's role is read once, not once per invitation: a call of
    -- app.inviter_may_grant per row, which the planner cannot inline, cost an owner with 20,000
    -- pending invitations 0.8 s to be demoted. `offset 0` keeps it a row of its own, so that
    -- app.may_invite is inlined over a column rather than called per row with the subquery.
    from (select (select m.role from app.memberships m where m.org_id = p_org and m.user_id = p_inviter)
                   as role_now offset 0) as inviter
   where i.org_id = p_org and i.invited_by = p_inviter
     and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
     and i.expires_at > pg_catalog.now()
     and not app.may_invite(inviter.role_now, i.role)
     and exists (select from app.organizations o where o.id = p_org and o.deleted_at is null)
  returning i.id, i.email::text, i.role;
end
$$;

comment on function app.revoke_invitations_beyond_grant(app.org_id, app.user_id) is
  'Revokes the user''s pending invitations in the organization that their current role may not grant; returns them (id, email, role).';

/* Revokes every pending invitation the account sent, in any organization, and returns them: for
   the account's deletion (app.tg_users__revoke_invitations, below), after which it may grant
   nothing. Its memberships' trigger cannot: the delete sets invited_by to null before that
   trigger runs (the foreign keys' actions come first), and then finds no invitation of the
   sender. A scan of the open invitations by sender, as that set-null's own; only an operator
   deletes an account. Expired ones are left as they are, as the rule above leaves them. The
   sender is set to null here, as that set-null would: the trigger runs once the account's row is
   gone, and a row that names it (one made in the deleting transaction, whose key Postgres checks
   again on any update) would fail its foreign key. */
create function app.revoke_invitations_of_account(p_inviter app.user_id)
returns table (id app.invitation_id, org_id app.org_id, email text, role app.org_role)
language sql volatile security definer set search_path = ''
begin atomic
  update app.invitations i set revoked_at = pg_catalog.now(), invited_by = null
   where i.invited_by = p_inviter
     and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
     and i.expires_at > pg_catalog.now()
  returning i.id, i.org_id, i.email::text, i.role;
end;

comment on function app.revoke_invitations_of_account(app.user_id) is
  'Revokes every pending invitation the user sent, in every organization (their account is being deleted); returns them (id, org_id, email, role).';

/* Closes the invitations that expired unanswered, in every organization, and counts them: for
   the hourly housekeeping (pipeline.purge_auth). Nothing else ever closed them, so they stayed
   in the open invitations' indexes for good, and what walks those (api.list_invitations' page,
   which keeps the live ones; a departing sender's revocation, above) walked past every one ever
   left unanswered. Revoked, without an event of the trail, as api.invite_member closes an
   expired one of the address it invites again: none could be accepted any more, none is shown
   as pending, and revoking one answers 409 invitation.not_pending either way. Found by
   invitations_open_expires_at_idx. One that another transaction holds (its organization being
   deleted, its sender's account too) is left to the next hour: waited for in the order of
   expiry, while a deletion takes an organization's invitations in the order of their rows, each
   held one the other wanted, and Postgres broke the deadlock by failing one of them (40P01: the
   owner's deletion answered 503, or the hour's housekeeping failed whole). */
create function app.close_expired_invitations() returns integer
language sql volatile security definer set search_path = ''
begin atomic
  with closed as (
    update app.invitations i set revoked_at = pg_catalog.now()
     where i.id = any (array(
             select d.id from app.invitations d
              where d.accepted_at is null and d.declined_at is null and d.revoked_at is null
                and d.expires_at <= pg_catalog.now()
                for update skip locked))
    returning i.id)
  select pg_catalog.count(*)::integer from closed;
end;

comment on function app.close_expired_invitations() is
  'Closes (revokes, unaudited) every invitation that expired unanswered but those another transaction holds (closed an hour later); how many.';

/* Whether the organization still exists, seen past the caller's policies: a leaver's own
   organization is no longer visible to them when the trigger below runs; a deleted one is gone,
   or marked deleted by its owner while its rows wait for the purge (api.delete_organization). */
create function app.organization_exists(p_org app.org_id) returns boolean
language sql stable security definer set search_path = ''
begin atomic
  select exists (select from app.organizations o where o.id = p_org and o.deleted_at is null);
end;

comment on function app.organization_exists(app.org_id) is
  'Whether the organization exists (not deleted), whatever the caller may see of it.';

/* Whether an invitation still stands to be answered: it exists (its organization was not
   deleted) and was not accepted, declined or revoked (by its sender, by a newer invitation of
   the address, or with its sender's authority). The worker's claim of an invitation's mail
   (delivery.claim) asks it, past any caller's policies: the worker is nobody's session. Expiry
   is left to the worker, which refuses a mail whose link expired; so one closed once it had
   expired (by the hourly housekeeping, app.close_expired_invitations, or by a newer invitation
   of the address) stands here as the expired invitation it is, and its mail, still being tried
   (a worker down for days, a DBA's try_again), is given up as expired, as it was before the
   housekeeping closed such invitations, not withdrawn as one taken back. */
create function app.invitation_is_open(p_invitation text) returns boolean
language sql stable security definer set search_path = ''
begin atomic
  select exists (select from app.invitations i
                  where i.id = p_invitation collate "C"
                    and i.accepted_at is null and i.declined_at is null
                    and (i.revoked_at is null or i.revoked_at >= i.expires_at));
end;

comment on function app.invitation_is_open(text) is
  'Whether the invitation exists and is not accepted, declined or revoked (but closed once it had expired), whatever the caller may see of it.';

/* The address's open invitation in the organization, if any (at most one: the unique index
   invitations_open_org_id_email_key), for api.invite_member, which refuses an admin replacing an
   owner's and revokes the one it replaces, by its id, under its caller's policies. Why here: the
   address is compared case-insensitively, and under the caller's policies `lower(i.email) = …`
   is no index condition, since only leakproof functions of a column may be evaluated before a
   policy and lower() is not (only a superuser may mark one so, and no migration runs as one): it
   was a filter after the policy, and each invitation read every pending invitation of the
   organization (7-12 ms at 20,000). invitation_revoker's policy shows it every row, so nothing
   precedes the comparison and the index on (org_id, lower(email)) finds the one row. The other
   ways cost more: an index of its own cannot help (the same comparison), and a stored lower-cased
   column needs a rewrite of the table under its exclusive lock, or a backfill with the row
   security lifted and a trigger, to say what this index already says. It reveals an id only to
   the owner's functions; invite_member asks it only once the caller is an owner or admin of the
   organization, under its lock, and reads and revokes the invitation itself. */
create function app.open_invitation_of(p_org app.org_id, p_email text) returns app.invitation_id
language sql stable security definer set search_path = ''
begin atomic
  select i.id from app.invitations i
   where i.org_id = p_org and pg_catalog.lower(i.email) = pg_catalog.lower(p_email)
     and i.accepted_at is null and i.declined_at is null and i.revoked_at is null;
end;

comment on function app.open_invitation_of(app.org_id, text) is
  'The id of the organization''s open (not accepted, declined or revoked) invitation of the address, compared case-insensitively, whatever the caller may see; null when there is none.';

set local role blossom_owner;
revoke create on schema app from invitation_revoker;

/* A Slack connection stands, like an invitation, only while the member who made it may still
   make it (an owner or an admin): else the organization's events went on to a channel of a
   workspace of someone no longer in it. One whose maker may not is broken, as a token Slack
   refused is (app.slack_broken). A definer function: the connection is reached only by its
   functions (sql/policies/slack.sql). */
create function app.break_slack_beyond_grant(p_org app.org_id, p_maker app.user_id) returns boolean
language plpgsql volatile security definer set search_path = ''
as $$
begin
  if app.organization_exists(p_org)
     and exists (select from app.slack_connections c
                  where c.org_id = p_org
                    -- Its maker's account gone (connected_by set null) breaks it too, whichever
                    -- cascade came first.
                    and (c.connected_by is null
                         or (c.connected_by = p_maker and not app.inviter_may_grant(p_org, p_maker, 'admin')))) then
    return app.slack_broken(p_org, 'The member who connected it may no longer connect it.');
  end if;
  return false;
end
$$;

comment on function app.break_slack_beyond_grant(app.org_id, app.user_id) is
  'Breaks (and audits) the organization''s Slack connection when its maker is no longer an owner or admin of it; whether it did.';

/* After a statement deleted memberships, or changed memberships' roles: what each of their
   members may no longer grant is revoked, each as an org.invitation_revoked event by the caller,
   with the inviter and their role now (null: no longer a member), and a Slack connection they
   made that they may no longer make is broken (app.revoke_for_member, below). A promotion
   revokes nothing. Once per statement, over its transition tables, and only in the
   organizations that still exist: deleting an organization of 100,000 members ran the rule for
   each, 68 us a member to find it gone, 7 s in all, past the statement timeout. */
create function app.tg_memberships__revoke_on_delete() returns trigger
language plpgsql
as $$
declare
  v_member record;
begin
  for v_member in
    -- Materialized: the check runs once per organization, not pushed down to every row.
    with orgs as materialized (select distinct r.org_id from before_rows r),
         standing as materialized (select o.org_id from orgs o where app.organization_exists(o.org_id))
    select b.org_id, b.user_id from before_rows b where b.org_id in (select s.org_id from standing s)
  loop
    perform app.revoke_for_member(v_member.org_id, v_member.user_id, null);
  end loop;
  return null;
end
$$;

comment on function app.tg_memberships__revoke_on_delete() is
  'Trigger: revokes (and audits) the pending invitations of the members whose memberships a statement deleted, in the organizations that still exist.';

create function app.tg_memberships__revoke_on_demotion() returns trigger
language plpgsql
as $$
declare
  v_member record;
begin
  for v_member in
    select b.org_id, b.user_id, a.role
      from before_rows b join after_rows a on a.id = b.id
     where a.role is distinct from b.role
  loop
    perform app.revoke_for_member(v_member.org_id, v_member.user_id, v_member.role);
  end loop;
  return null;
end
$$;

comment on function app.tg_memberships__revoke_on_demotion() is
  'Trigger: revokes (and audits) the pending invitations members may no longer grant after a statement changed their roles.';

/* The rule for one member whose role went down (p_role_now) or who left (null). */
create function app.revoke_for_member(p_org app.org_id, p_member app.user_id, p_role_now app.org_role)
returns void
language plpgsql
as $$
declare
  v_revoked record;
begin
  for v_revoked in select r.id, r.email, r.role from app.revoke_invitations_beyond_grant(p_org, p_member) r loop
    perform app.org_audit(p_org, 'org.invitation_revoked', v_revoked.id, pg_catalog.jsonb_build_object(
      'email', v_revoked.email, 'role', v_revoked.role, 'invited_by', p_member, 'inviter_role', p_role_now));
  end loop;
  perform app.break_slack_beyond_grant(p_org, p_member);
end
$$;

comment on function app.revoke_for_member(app.org_id, app.user_id, app.org_role) is
  'Revokes (and audits) the member''s pending invitations their role now (null: gone) may not grant, and breaks a Slack connection they made that they may no longer make.';

/* Transition tables take no column list: the update trigger fires for any update, and the
   function looks at the roles. */
create trigger revoke_invitations_beyond_grant after delete on app.memberships
  referencing old table as before_rows
  for each statement execute function app.tg_memberships__revoke_on_delete();

create trigger revoke_invitations_beyond_demotion after update on app.memberships
  referencing old table as before_rows new table as after_rows
  for each statement execute function app.tg_memberships__revoke_on_demotion();

/* An account deleted (only an operator does, docs/operations.md) grants nothing any more: before
   the row goes, its pending invitations are revoked, each an org.invitation_revoked event by the
   caller (no one, for an operator), with the sender and no role now, as a leaver's are. Before
   its foreign keys' actions, which set the sender to null (after the organizations' locks:
   sql/functions/app/account_deletion.sql says why and how). */
create function app.tg_users__revoke_invitations() returns trigger
language plpgsql
as $$
declare
  v_revoked record;
begin
  for v_revoked in select r.id, r.org_id, r.email, r.role from app.revoke_invitations_of_account(old.id) r loop
    perform app.org_audit(v_revoked.org_id, 'org.invitation_revoked', v_revoked.id, pg_catalog.jsonb_build_object(
      'email', v_revoked.email, 'role', v_revoked.role, 'invited_by', old.id, 'inviter_role', null));
  end loop;
  return old;
end
$$;

comment on function app.tg_users__revoke_invitations() is
  'Trigger: revokes (and audits) the pending invitations of an account about to be deleted.';

create trigger "Before_cascades_2_revoke_invitations" after delete on app.users
  for each row execute function app.tg_users__revoke_invitations();
