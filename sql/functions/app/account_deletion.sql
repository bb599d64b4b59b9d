/*
 * An account deleted by an operator (`delete from app.users`, docs/operations.md "Deleting an
 * account"; no API, job or pipeline deletes one): what must hold before it goes, and what goes
 * with it beyond its foreign keys. Triggers on app.users, after the statement's rows are deleted
 * and before each row's foreign keys' cascades take its memberships and its links, in the order
 * of their names:
 *
 *   Before_cascades_1_keep_an_owner     refuses the deletion of an organization's only owner
 *                                         (or, its organization's lock held too long, 503 org.busy;
 *                                         or an owner's outside read committed, 409
 *                                         org.owner_deletion_isolation);
 *   Before_cascades_2_revoke_invitations the invitations it sent (inviter_authority.sql);
 *   Before_cascades_3_withdraw_mail     the mail that carries its links, not yet delivered.
 *
 * AFTER row triggers, so that a statement that deletes several accounts (`where id in (…)`) has
 * locked every account's row before it takes any organization's lock. As BEFORE triggers, the
 * first row's took its organizations' locks and the delete then waited for the next account's
 * row, which that account's own call held (its session's mark of use, auth.session_from_token)
 * while it waited for one of those locks: each waited for the other (40P01, the call or the delete
 * killed). Each fires before the foreign keys' actions of its row because Postgres fires a row's
 * AFTER triggers in the order of their names, and those of the foreign keys are all named
 * `RI_ConstraintTrigger_…`: the capital B sorts before them (as a lower-case name would not).
 *
 * Why invitation_revoker owns the two readers below: whoever deletes the account (an admin user,
 * the owner role, which sees only its caller's memberships) must see every owner of the account's
 * organizations, and invitation_revoker is the no-login role that already reads every
 * membership's organization, user and role (sql/grants/app.sql, sql/policies/orgs.sql). It is
 * granted for this the organizations' names and the users' ids, nothing else.
 */

grant usage, create on schema app to invitation_revoker;
set local role invitation_revoker;

/* The organizations the account is a member of, in the order their locks are taken (by id): two
   deletions at once of accounts in the same organizations take them in the same order. */
create function app.organizations_of_account(p_user app.user_id) returns setof app.org_id
language sql stable security definer set search_path = ''
begin atomic
  select m.org_id from app.memberships m where m.user_id = p_user order by m.org_id;
end;

comment on function app.organizations_of_account(app.user_id) is
  'The organizations the user is a member of (by id), whatever the caller may see.';

/* The organizations the account alone owns: no other owner whose account is still there. An
   account deleted in the same statement (`delete … where id in (…)`) may still have its
   memberships then (its row's cascade not run yet), but no longer its row, which the triggers
   (after the statement's deletes) see gone: the last two owners deleted in one statement are
   refused. */
create function app.organizations_owned_alone(p_user app.user_id) returns table (id app.org_id, name text)
language sql stable security definer set search_path = ''
begin atomic
  select o.id, o.name from app.memberships m join app.organizations o on o.id = m.org_id
   where m.user_id = p_user and m.role = 'owner'
     and not exists (select from app.memberships other join app.users u on u.id = other.user_id
                      where other.org_id = m.org_id and other.role = 'owner' and other.user_id <> p_user)
   order by o.id;
end;

comment on function app.organizations_owned_alone(app.user_id) is
  'The organizations (id, name) of which the user is the only owner with an account, whatever the caller may see.';

/* Whether the account owns any organization (alone or not): one deleted outside read committed
   is refused (below). */
create function app.owns_an_organization(p_user app.user_id) returns boolean
language sql stable security definer set search_path = ''
begin atomic
  select exists (select from app.memberships m where m.user_id = p_user and m.role = 'owner');
end;

comment on function app.owns_an_organization(app.user_id) is
  'Whether the user owns any organization, whatever the caller may see.';

set local role blossom_owner;
revoke create on schema app from invitation_revoker;

/* An organization keeps at least one owner (app.require_another_owner, 409 org.last_owner): an
   account that alone owns one is not deleted. Deleted, it left an organization no one could
   administer: an admin may make no owner, and only an owner may transfer ownership or delete it;
   its members could leave it, empty, with its quota, AI answers and Slack rows. So, as GitHub or
   Slack refuse to delete an account that solely owns an organization, the operator is told which
   and what to do first: transfer ownership, or delete the organization.
   Under the lock of every organization the account is in (app.lock_org, which the owners' own
   calls take before they count owners), then counted with a statement of its own, which sees what
   committed while it waited. The first row's trigger takes the locks of every organization of
   the statement's accounts (its transition table, whose rows come in the order the rows' triggers
   fire), by id, so that two deletions take them in one order; the later rows' find their own
   held, a statement of thousands of accounts reading them all once. An owner's leave or demotion under way, that counted
   this account as the other owner, ends first and is seen; one that comes after waits for the
   deletion and counts one owner. A promotion of the account waits too (change_member_role,
   transfer_ownership). The wait for each lock is bounded, below deadlock_timeout: the accounts'
   rows are locked before this trigger runs (the delete locks and deletes them all, then fires its
   AFTER triggers), and the calls that hold an organization's lock may then write a row naming
   the account (remove_member its departure, the account's own calls their audit event), whose
   foreign key waits for that row.
   Each waited for the other (40P01, the call or the delete killed); now the deletion, which
   alone waits holding a row, gives up first, 503 org.busy (run it again), and the call goes on.
   The count sees what committed while it waited only at read committed (psql's default): in a
   repeatable read or serializable transaction it reads the transaction's snapshot, taken before
   the wait, and an owner's demotion committed meanwhile went unseen (the demoted owner counted,
   the organization left with none). So an account that owns an organization is deleted at read
   committed only, 409 org.owner_deletion_isolation otherwise, whatever did or did not commit:
   a refusal that depends on no race. Owning is read in the snapshot too; an ownership it does
   not show (gained since) is a membership changed since, whose cascade fails the delete (40001).
   Security definer, so that it holds whatever session deletes (any that may delete the row). */
create function app.tg_users__keep_an_owner() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  v_org app.org_id;
  v_account text;
  -- Whose organizations' locks this row's trigger takes: the first row's, every account's of the
  -- statement; a later row's, its own account's again (held by then), so that no row's count
  -- hangs on which row's trigger came first.
  v_accounts app.user_id[] := case when old.id = (select f.id from deleted_accounts f limit 1)
                                   then (select pg_catalog.array_agg(d.id) from deleted_accounts d)::app.user_id[]
                                   else array[old.id] end;
  v_owned_alone text;
  v_lock_timeout constant text := pg_catalog.current_setting('lock_timeout');
  -- Half of deadlock_timeout, or the session's own lock_timeout when it is shorter.
  v_wait_ms constant bigint := (
    select pg_catalog.min(w) filter (where w > 0) from (values
      (pg_catalog.floor(extract(epoch from pg_catalog.current_setting('deadlock_timeout')::interval) * 500)::bigint),
      (pg_catalog.floor(extract(epoch from v_lock_timeout::interval) * 1000)::bigint)) as t (w));
begin
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed'
     and app.owns_an_organization(old.id) then
    perform util.raise_error(409, 'org.owner_deletion_isolation', pg_catalog.format(
      'Account %s owns an organization: it is deleted in a read committed transaction only (the '
      'default; this one is %s), where the check that each organization keeps an owner sees what '
      'committed meanwhile. Nothing was deleted; run the delete at read committed.',
      old.id, pg_catalog.current_setting('transaction_isolation')));
  end if;
  perform pg_catalog.set_config('lock_timeout', coalesce(v_wait_ms, 1)::text, true);
  begin
    for v_org, v_account in
      select a.org_id, pg_catalog.min(d.id) from pg_catalog.unnest(v_accounts) as d (id)
       cross join lateral app.organizations_of_account(d.id) as a (org_id)
       group by a.org_id order by a.org_id
    loop
      perform app.lock_org(v_org);
    end loop;
  exception when lock_not_available then
    perform util.raise_error(503, 'org.busy', pg_catalog.format(
      'Organization %s of account %s is being worked on (a call under way holds it); nothing was '
      'deleted, run the delete again.', v_org, v_account));
  end;
  perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
  select pg_catalog.string_agg(s.id || ' (' || s.name || ')', ', ' order by s.id) into v_owned_alone
    from app.organizations_owned_alone(old.id) s;
  if v_owned_alone is not null then
    perform util.raise_error(409, 'org.last_owner', pg_catalog.format(
      'Account %s is the only owner of %s. An organization keeps at least one owner: have the account '
      'transfer ownership (transfer_ownership) or delete the organization first, then delete the account.',
      old.id, v_owned_alone));
  end if;
  return old;
end
$$;

comment on function app.tg_users__keep_an_owner() is
  'Trigger: refuses (409 org.last_owner, naming them) the deletion of an account that is the only owner of organizations, and (409 org.owner_deletion_isolation) an owner''s outside read committed.';

create trigger "Before_cascades_1_keep_an_owner" after delete on app.users
  referencing old table as deleted_accounts
  for each row execute function app.tg_users__keep_an_owner();

/* The account's links (password resets, email verifications) go with it (on delete cascade), so
   its mail not yet delivered would carry a link that only answers "invalid": withdrawn, as an
   invitation's mail whose invitation was taken back (app.withdraw_message: given up, `withdrawn:
   …`, its token out). A payload names no account, only an address (`to`), which another account
   may hold by the time the mail waits (this one's address changed, the address taken again);
   the mail is tied to the account by its token's hash, the one its link's row keeps. Locked
   first: a mail the worker is sending is waited for, and left as it is once delivered. A mail
   given up already (its tries spent in an SMTP outage) is withdrawn too: it kept its token, and a
   DBA's delivery.try_again once the outage was over sent it to an address no account held, by a
   link that answered invalid. */
create function app.tg_users__withdraw_mail() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  v_event app.event_id;
begin
  for v_event in
    select o.id from app.outbox o
     where o.topic in ('mail.password_reset', 'mail.email_verification')
       and o.delivered_at is null
       and (o.given_up_at is null or coalesce(o.last_error, '') not like 'withdrawn: %')
       and util.token_hash(o.payload ->> 'token') in (
             select r.token_hash from app.password_resets r where r.user_id = old.id
             union all
             select v.token_hash from app.email_verifications v where v.user_id = old.id)
       for update of o
  loop
    perform app.withdraw_message(v_event, 'its account was deleted before it went');
  end loop;
  return old;
end
$$;

comment on function app.tg_users__withdraw_mail() is
  'Trigger: withdraws the undelivered reset and verification mail of an account about to be deleted, given up or not (its links go with it).';

create trigger "Before_cascades_3_withdraw_mail" after delete on app.users
  for each row execute function app.tg_users__withdraw_mail();
