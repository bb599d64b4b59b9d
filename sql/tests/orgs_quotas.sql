/*
 * The organization API's quotas (sql/functions/app/rate_limits.sql): 20 invitations an hour per
 * sender, 50 per organization, 3 per address in an organization, 10 new organizations a day per
 * user, 20 renames and 20 ownership transfers an hour per organization, 100 role changes an hour
 * per member who makes them; each a setting of its own.
 * They are counted in app.rate_limit_hits; in this one transaction now() stands still, so a
 * refusal waits exactly the window. That they hold under concurrency is
 * tests/test_orgs_concurrency.py's.
 */
begin;
select plan(46);

select tap.make_users(array['sender', 'sender2', 'sender3', 'founder', 'reviser', 'heir']);
select tap.make_org('delta', '{"sender": "owner", "sender2": "admin", "sender3": "admin"}');
select tap.make_org('epsilon', '{"sender": "owner", "sender3": "admin", "reviser": "admin"}');

/* The distinct answers to p_count invitations that p_sender sends in p_org, to new addresses
   numbered from p_first. */
create function pg_temp.invitations(p_sender text, p_org text, p_count integer, p_first integer default 1)
returns text[]
language sql
as $$
  select array_agg(distinct tap.call(p_sender, format('select api.invite_member(%L, %L, ''member'')',
           tap.id(p_org), p_sender || '.' || p_org || '.' || n || '@example.com')))
    from generate_series(p_first, p_first + p_count - 1) n
$$;
select is(pg_temp.invitations('sender', 'delta', 20), '{ok}', 'a sender sends 20 invitations in an hour');
select is(pg_temp.invitations('sender', 'delta', 1, 21), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'the 21st is refused, with the seconds until the oldest leaves the hour');
select is(pg_temp.invitations('sender', 'epsilon', 1), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'the quota is the sender''s, in any organization');
select is(pg_temp.invitations('sender2', 'delta', 20), '{ok}', 'another sender in the same organization is not affected');
select is(pg_temp.invitations('sender3', 'delta', 10), '{ok}', 'a third one sends the organization''s 50th invitation');
select is(pg_temp.invitations('sender3', 'delta', 1, 11), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'the organization''s 51st is refused, though its sender has sent only 10');
select is(pg_temp.invitations('sender3', 'epsilon', 1), '{ok}', 'another organization is not affected');
select is((select count(*)::int from app.invitations where org_id = tap.id('delta')),
  50, 'the refused invitations were not made');

select set_config('app.settings.invitations_per_user_per_hour', '2', true);
select is(pg_temp.invitations('reviser', 'epsilon', 1), '{ok}',
  'a sender limited to 2 an hour (app.settings.invitations_per_user_per_hour) sends one');
select is(tap.call('reviser', format('select api.revoke_invitation(%L)',
            (select id from app.invitations where email = 'reviser.epsilon.1@example.com'))), 'ok', 'revokes it');
select is(pg_temp.invitations('reviser', 'epsilon', 1, 2), '{ok}', 'sends another');
select is(tap.call('reviser', format('select api.revoke_invitation(%L)',
            (select id from app.invitations where email = 'reviser.epsilon.2@example.com'))), 'ok', 'and revokes that too');
select is(pg_temp.invitations('reviser', 'epsilon', 1, 3), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'revoked invitations still count: revoking and sending again buys nothing');
select set_config('app.settings.invitations_per_user_per_hour', '', true);
select set_config('app.settings.invitations_per_org_per_hour', '4', true);
select is(pg_temp.invitations('sender3', 'epsilon', 1, 2), '{ok}',
  'an organization limited to 4 an hour (app.settings.invitations_per_org_per_hour) sends its 4th');
select is(pg_temp.invitations('sender3', 'epsilon', 1, 3), '{"429 invitation.rate_limited (Retry-After: 3600)"}',
  'but not a 5th, revoked ones counted');

/* Invitations to one address in one organization: each replaces the last and sends a mail again. */
select set_config('app.settings.invitations_per_org_per_hour', '', true);
select tap.make_users(array['inviter1', 'inviter2']);
select tap.make_org('eta', '{"inviter1": "owner", "inviter2": "admin"}');
select tap.make_org('theta', '{"inviter2": "owner"}');
select is(array[tap.call('inviter1', format('select api.invite_member(%L, ''victim@example.com'', ''member'')', tap.id('eta'))),
                tap.call('inviter2', format('select api.invite_member(%L, ''Victim@Example.com'', ''member'')', tap.id('eta'))),
                tap.call('inviter1', format('select api.invite_member(%L, ''victim@example.com'', ''member'')', tap.id('eta')))],
  array['ok', 'ok', 'ok'], 'an organization invites an address 3 times in an hour, by any of its senders');
select is(tap.call('inviter2', format('select api.invite_member(%L, ''VICTIM@example.com'', ''member'')', tap.id('eta'))),
  '429 invitation.rate_limited (Retry-After: 3600)', 'the 4th is refused (whatever the case of its letters)');
select is(tap.call('inviter2', format('select api.invite_member(%L, ''victim@example.com'', ''member'')', tap.id('theta'))),
  'ok', 'another organization still invites that address: no tenant can keep the others from inviting someone');
select is(tap.call('inviter2', format('select api.invite_member(%L, ''someone.else@example.com'', ''member'')', tap.id('eta'))),
  'ok', 'nor is another address affected');
select set_config('app.settings.invitations_per_address_per_org_per_hour', '4', true);
select is(tap.call('inviter2', format('select api.invite_member(%L, ''victim@example.com'', ''member'')', tap.id('eta'))),
  'ok', 'app.settings.invitations_per_address_per_org_per_hour raises the limit');

select is(array_agg(distinct tap.call('founder', format('select api.create_organization(''Venture %s'')', n))), '{ok}',
  'a user creates 10 organizations in a day') from generate_series(1, 10) n;
select is(tap.call('founder', $$ select api.create_organization('Venture 11') $$),
  '429 org.rate_limited (Retry-After: 86400)', 'the 11th is refused, with the seconds until the oldest leaves the day');
select is(tap.call('sender', $$ select api.create_organization('Venture 11') $$), 'ok', 'another user is not affected');
select set_config('app.settings.organizations_per_user_per_day', '12', true);
select is(tap.call('founder', $$ select api.create_organization('Venture 11') $$), 'ok',
  'app.settings.organizations_per_user_per_day raises the limit');

/* Renames, each of which posts to the organization's Slack channel. */
select tap.make_org('zeta', '{"reviser": "owner"}');
select is(tap.call('reviser', $$ select api.update_organization('{zeta}', ' Zeta ') $$), 'ok',
  'a rename to the name the organization has (once trimmed) answers the organization');
select is((select count(*)::int from app.audit_events where org_id = tap.id('zeta')), 0,
  'but is no rename: nothing audited');
select is((select count(*)::int from app.outbox where payload ->> 'org_id' = tap.id('zeta')), 0,
  'nor posted to Slack (nor counted: the 20 renames below all pass)');
select is(array_agg(distinct tap.call('reviser', format('select api.update_organization(''{zeta}'', ''Zeta %s'')', n))),
  '{ok}', 'an organization is renamed 20 times in an hour') from generate_series(1, 20) n;
select is(tap.call('reviser', $$ select api.update_organization('{zeta}', 'Zeta 21') $$),
  '429 org.rate_limited (Retry-After: 3600)', 'the 21st is refused, with the seconds until the oldest leaves the hour');
select is((select name from app.organizations where id = tap.id('zeta')), 'Zeta 20', 'and changes nothing');
select is(tap.call('reviser', $$ select api.update_organization('{zeta}', 'Zeta 20') $$), 'ok',
  'the name it has is still answered once the quota is spent: it renames nothing');
select set_config('app.settings.renames_per_org_per_hour', '21', true);
select is(tap.call('reviser', $$ select api.update_organization('{zeta}', 'Zeta 21') $$), 'ok',
  'app.settings.renames_per_org_per_hour raises the limit');

/* Ownership transfers, each of which posts to the organization's Slack channel: two owners'
   accounts passed it back and forth 119 times a second, and every tenant's posts waited behind. */
select tap.make_org('iota', '{"reviser": "owner", "heir": "admin"}');
select is(array_agg(distinct tap.call(case when n % 2 = 1 then 'reviser' else 'heir' end,
            format('select api.transfer_ownership(''{iota}'', ''{%s}'')', case when n % 2 = 1 then 'heir' else 'reviser' end))),
  '{ok}', 'ownership passes 20 times in an hour') from generate_series(1, 20) n;
select is(tap.call('reviser', $$ select api.transfer_ownership('{iota}', '{heir}') $$),
  '429 org.rate_limited (Retry-After: 3600)', 'the 21st is refused');
select is((select role::text from app.memberships where org_id = tap.id('iota') and user_id = tap.id('reviser')),
  'owner', 'and changes nothing');
select set_config('app.settings.transfers_per_org_per_hour', '21', true);
select is(tap.call('reviser', $$ select api.transfer_ownership('{iota}', '{heir}') $$), 'ok',
  'app.settings.transfers_per_org_per_hour raises the limit');

/* Role changes, each an event of the audit trail that only grows: an owner's two accounts
   toggled a member between member and admin 480 times a second from one connection, 500 bytes
   of the trail each (20 GB a day). Counted per member who makes them, in every organization, so
   that no admin can spend an owner's and keep them from demoting him; a change to the role the
   member has already is no change, and costs nothing. */
select set_config('app.settings.role_changes_per_user_per_hour', '4', true);
select tap.make_users(array['toggler', 'toggled', 'overseer']);
select tap.make_org('kappa', '{"toggler": "owner", "toggled": "member", "overseer": "owner"}');
select tap.make_org('lambda', '{"toggler": "owner", "toggled": "member"}');
select is(array_agg(distinct tap.call('toggler',
            format('select api.change_member_role(''{kappa}'', ''{toggled}'', %L)', case when n % 2 = 1 then 'admin' else 'member' end))),
  '{ok}', 'a member changes 4 roles in an hour') from generate_series(1, 4) n;
select is(tap.call('toggler', $$ select api.change_member_role('{kappa}', '{toggled}', 'member') $$), 'ok',
  'a change to the role the member has is no change, and not counted');
select is(tap.call('toggler', $$ select api.change_member_role('{kappa}', '{toggled}', 'admin') $$),
  '429 org.rate_limited (Retry-After: 3600)', 'the 5th is refused');
select is(tap.call('toggler', $$ select api.change_member_role('{lambda}', '{toggled}', 'admin') $$),
  '429 org.rate_limited (Retry-After: 3600)', 'in any organization: the quota is the member''s');
select is((select role::text from app.memberships where org_id = tap.id('kappa') and user_id = tap.id('toggled')),
  'member', 'and changes nothing');
select is(tap.call('overseer', $$ select api.change_member_role('{kappa}', '{toggler}', 'admin') $$), 'ok',
  'another owner of the organization still changes roles (demoting the one who spent theirs)');
select is((select count(*)::int from app.audit_events
            where org_id = tap.id('kappa') and action = 'org.member_role_changed'), 5,
  'only the changes made are in the audit trail');
select set_config('app.settings.role_changes_per_user_per_hour', '', true);
select is(tap.call('overseer', $$ select api.change_member_role('{kappa}', '{toggled}', 'admin') $$), 'ok',
  'app.settings.role_changes_per_user_per_hour sets the limit (default 100)');

/* A day of the organizations' quota is 24 hours, whatever the session's time zone, for the API
   and for the housekeeping that keeps its hits. Where the clocks went forward 12 hours ago (a
   made-up zone, XST5XDT, its summer time begun then), a day back on the wall clock is 23 hours:
   10 organizations made 23.5 hours ago were out of the day, and an 11th was made; and the
   housekeeping, run in such a zone, deleted their hits while a day in UTC still counted them. */
select tap.make_users(array['nightowl']);
select set_config('app.settings.organizations_per_user_per_day', '', true);
insert into app.rate_limit_hits (kind, key, at)
select 'org.create', tap.id('nightowl'), now() - interval '23 hours 30 minutes' from generate_series(1, 10);
select set_config('timezone', pg_catalog.format('XST5XDT,%s/%s,%s/0', extract(doy from t)::int - 1, extract(hour from t)::int,
                                                (extract(doy from t)::int + 99) % 365), true)
  from (select (now() - interval '12 hours') at time zone 'UTC' - interval '5 hours' as t) switch;
select is(tap.call('nightowl', $$ select api.create_organization('Owl 11') $$),
  '429 org.rate_limited (Retry-After: 1800)',
  'ten organizations made 23.5 hours ago fill the day where the clocks went forward meanwhile');
set local role pipeline;
select pipeline.purge_auth();
reset role;
reset timezone;
select is((select count(*)::int from app.rate_limit_hits where kind = 'org.create' and key = tap.id('nightowl')), 10,
  'the housekeeping, run where the clocks went forward, keeps the hits of the last 24 hours');

select * from finish();
rollback;
