/*
 * api.delete_organization of an organization with a long history. Deleting its row took every row
 * of it with it (the foreign keys' cascades) in the owner's call: every invitation it ever sent
 * (50 an hour, 166,000 in under five months) and every AI request of its members (the ledger
 * keeps each), past the API's statement timeout (5.6 s at 10,000 members and 166,000
 * invitations), so that its owner could never delete it. The call now takes it out of every
 * reader's sight at once, and what it held is purged afterwards, a bounded batch at a time, by
 * the hourly housekeeping (app.purge_deleted_organizations, pipeline.purge_auth).
 */
begin;
select plan(24);

select tap.make_users(array['boss', 'aide', 'crew', 'guest', 'neighbour']);
select tap.make_org('history', '{"boss": "owner", "aide": "admin", "crew": "member"}');
select tap.make_org('nextdoor', '{"neighbour": "owner", "crew": "member"}');
/* Its history: 20,000 invitations answered long ago, 20,000 AI requests, 60 days of metrics. */
insert into app.invitations (org_id, email, role, invited_by, token_hash, created_at, expires_at, accepted_at)
select tap.id('history'), 'past' || n || '@example.com', 'member', tap.id('aide'), sha256(convert_to('p' || n, 'UTF8')),
       now() - interval '60 days', now() - interval '53 days', now() - interval '59 days'
  from generate_series(1, 20000) n;
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens, started_at, settled_at)
select tap.id('history'), tap.id('crew'), 'org_summary', 'model', sha256(convert_to('r' || n, 'UTF8')), 'cached', 0,
       now() - interval '30 days', now() - interval '30 days'
  from generate_series(1, 20000) n;
insert into analytics.org_daily_metrics (day, org_id, members, invitations_sent, invitations_accepted, logins, active_users)
select current_date - n, tap.id(o), 3, 0, 0, 0, 0 from generate_series(1, 60) n, unnest(array['history', 'nextdoor']) o;
/* What is live: an invitation still open, with its mail queued, and the neighbour's own rows. */
select is(tap.call('boss', $$ select api.invite_member('{history}', 'guest@example.com', 'member') $$), 'ok',
  'the owner invites a guest');
select tap.fix('guest_token', tap.mailed_token('mail.org_invitation', 'guest@example.com', 'history'));
select is(tap.call('neighbour', $$ select api.invite_member('{nextdoor}', 'guest@example.com', 'member') $$), 'ok',
  'the neighbour invites the same guest');
insert into app.ai_usage (org_id, user_id, feature, model, request_hash, outcome, reserved_tokens, started_at, settled_at)
values (tap.id('nextdoor'), tap.id('crew'), 'org_summary', 'model', sha256('n'::bytea), 'cached', 0, now(), now());
analyze app.invitations, app.ai_usage, app.memberships, app.organizations;
create temporary table neighbour_rows as
  select 'invitations' as t, count(*) as n from app.invitations where org_id = tap.id('nextdoor')
  union all select 'ai_usage', count(*) from app.ai_usage where org_id = tap.id('nextdoor')
  union all select 'memberships', count(*) from app.memberships where org_id = tap.id('nextdoor')
  union all select 'metrics', count(*) from analytics.org_daily_metrics where org_id = tap.id('nextdoor');

/* The call reads what it takes out of sight (the row, the members, the open invitations), not
   the history: it read every page of the 40,000 rows (1,300 pages) to delete them. */
select tap.become('boss');
select tap.fewer_blocks($$ select api.delete_organization('{history}') $$, 300,
  'deleting an organization reads a bounded number of pages, whatever its history');
reset role;

/* Gone at once, for every reader. */
select is(tap.call('boss', $$ select api.get_organization('{history}') $$), '404 org.not_found',
  'its owner no longer finds it');
select is(tap.call('boss', $$ select api.delete_organization('{history}') $$), '404 org.not_found',
  'nor deletes it again');
select is(tap.call('crew', $$ select api.list_members('{history}') $$), '404 org.not_found',
  'a member no longer finds it');
select is((select count(*)::int from app.memberships where org_id = tap.id('history')), 0, 'its memberships are gone');
select ok(not app.organization_exists(tap.id('history')), 'it no longer exists for the rules that ask');
select is(tap.call('guest', $$ select api.accept_invitation('{guest_token}') $$), '400 invitation.invalid',
  'its open invitation can no longer be accepted');
select ok(not app.invitation_is_open((select id from app.invitations where org_id = tap.id('history')
                                        and email = 'guest@example.com')),
  'and its mail is withdrawn, not sent');
set local role panopticon;
select is((select count(*)::int from admin.organizations where id = tap.id('history')), 0,
  'the operators no longer see it among the organizations');
select is((select count(*)::int from admin.ai_usage where org_id = tap.id('history')), 0,
  'nor in the AI use');
select results_eq($$ select invitations, ai_requests from admin.organization_deletions where id = tap.id('history') $$,
  $$ values (20001::bigint, 20000::bigint) $$, 'they see what is left to purge of it');
reset role;
select is((select count(*)::int from pipeline.org_daily_counts((now() at time zone 'UTC')::date) where org_id = tap.id('history')), 0,
  'the daily metrics count it no more');
select is((select count(*)::int from pipeline.org_daily_metrics(current_date - 60, current_date)
            where org_id = tap.id('history')), 0,
  'and the metrics export leaves its past days out');

/* Nothing of the neighbour's changed. */
select results_eq(
  $$ select t, n from neighbour_rows order by t $$,
  $$ select 'ai_usage', count(*) from app.ai_usage where org_id = tap.id('nextdoor')
     union all select 'invitations', count(*) from app.invitations where org_id = tap.id('nextdoor')
       and revoked_at is null
     union all select 'memberships', count(*) from app.memberships where org_id = tap.id('nextdoor')
     union all select 'metrics', count(*) from analytics.org_daily_metrics where org_id = tap.id('nextdoor')
     order by 1 $$,
  'no row of another tenant was touched');
select tap.become('crew');
select is((select array_agg(name) from api.list_organizations()), array['Nextdoor'],
  'a member of both lists only the other one');
reset role;

/* The purge, a bounded batch at a time, the organization's row last. */
select results_eq($$ select organizations, rows_deleted from app.purge_deleted_organizations(25000) $$,
  $$ values (0, 25000::bigint) $$, 'a purge deletes at most the rows it is given, and not yet the organization');
/* Given exactly the rows left: the budget is spent on them, and nothing of the organization is
   left; its row went only with the next run's. */
select results_eq($$ select organizations, rows_deleted from app.purge_deleted_organizations(15001) $$,
  $$ values (1, 15001::bigint) $$, 'the next deletes the rest, then the organization, the budget spent on the rest');
select ok(not exists (select from app.organizations where id = tap.id('history')), 'the organization''s row is gone');
select is((select count(*)::int from app.invitations where org_id = tap.id('history'))
          + (select count(*)::int from app.ai_usage where org_id = tap.id('history'))
          + (select count(*)::int from analytics.org_daily_metrics where org_id = tap.id('history')), 0,
  'and every row it held');
select results_eq($$ select organizations, rows_deleted from app.purge_deleted_organizations(25000) $$,
  $$ values (0, 0::bigint) $$, 'a purge with nothing to do does nothing');
select is((select count(*)::int from app.organizations where id = tap.id('nextdoor')), 1, 'the neighbour stays');
set local role panopticon;
select is_empty($$ select from admin.organization_deletions $$, 'the operators see no deletion left');
reset role;

select * from finish();
rollback;
