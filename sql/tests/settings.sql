/*
 * The settings operators give (`alter database … set app.settings.<name>`), read by their type
 * (sql/functions/util/settings.sql): a value that is not of it is the server's fault, answered
 * 500 server.invalid_setting naming the setting and the value, whatever call reads it. A cast
 * of the text failed with Postgres's own 22P02 or 22007, which PostgREST answers 400, as if the
 * caller had sent the value, and which named no setting. A whole number out of a setting's
 * range counts as the nearest end of it; an interval must be positive, and counts as 100 years
 * at most.
 */
begin;
select plan(48);
set local app.settings.bcrypt_cost = '4';

/* Whole numbers */
set local app.settings.signups_per_minute = 'lots';
select is(tap.outcome($$ select util.limit_setting('signups_per_minute', 120) $$, true),
  '500 server.invalid_setting: app.settings.signups_per_minute must be a whole number, not ''lots''',
  'a limit that is no whole number is the server''s error, naming the setting and its value');
set local app.settings.signups_per_minute = '1.5';
select is(tap.outcome($$ select util.limit_setting('signups_per_minute', 120) $$, true),
  '500 server.invalid_setting: app.settings.signups_per_minute must be a whole number, not ''1.5''',
  'so is a fraction');
set local app.settings.signups_per_minute = '1e3';
select is(tap.outcome($$ select util.limit_setting('signups_per_minute', 120) $$, true),
  '500 server.invalid_setting: app.settings.signups_per_minute must be a whole number, not ''1e3''',
  'and a number in exponent form');
set local app.settings.signups_per_minute = '  ';
select is(tap.outcome($$ select util.limit_setting('signups_per_minute', 120) $$, true),
  '500 server.invalid_setting: app.settings.signups_per_minute must be a whole number, not ''  ''',
  'and blanks alone');
set local app.settings.signups_per_minute = '';
select is(util.limit_setting('signups_per_minute', 120), 120, 'empty is the default');
set local app.settings.signups_per_minute = ' +7 ';
select is(util.limit_setting('signups_per_minute', 120), 7, 'a sign and blanks around the digits are taken, as Postgres takes them');
set local app.settings.signups_per_minute = '0';
select is(util.limit_setting('signups_per_minute', 120), 1, 'a limit is at least 1: 0 counts as 1');
set local app.settings.signups_per_minute = '-5';
select is(util.limit_setting('signups_per_minute', 120), 1, 'and so does a negative one');
set local app.settings.signups_per_minute = '99999999999999999999';
select is(util.limit_setting('signups_per_minute', 120), 2147483647,
  'a whole number past an integer''s range counts as its largest');
set local app.settings.signups_per_minute = '-99999999999999999999';
select is(util.integer_setting('signups_per_minute', 120), -2147483648, 'and one below it as its smallest');
reset app.settings.signups_per_minute;

set local app.settings.bcrypt_cost = 'high';
select is(tap.outcome($$ select auth.bcrypt_cost() $$, true),
  '500 server.invalid_setting: app.settings.bcrypt_cost must be a whole number, not ''high''',
  'the bcrypt cost is a whole number');
set local app.settings.bcrypt_cost = '99';
select is(auth.bcrypt_cost(), 16, 'and at most 16');
set local app.settings.bcrypt_cost = '4';

/* Intervals */
set local app.settings.session_max_age = 'lots';
select is(tap.outcome($$ select util.interval_setting('session_max_age', interval '30 days') $$, true),
  '500 server.invalid_setting: app.settings.session_max_age must be a positive interval, not ''lots''',
  'an interval setting that is no interval is the server''s error, naming it');
set local app.settings.session_max_age = '-1 day';
select is(tap.outcome($$ select util.interval_setting('session_max_age', interval '30 days') $$, true),
  '500 server.invalid_setting: app.settings.session_max_age must be a positive interval, not ''-1 day''',
  'so is a negative one: a session would be dead when made');
set local app.settings.session_max_age = '0';
select is(tap.outcome($$ select util.interval_setting('session_max_age', interval '30 days') $$, true),
  '500 server.invalid_setting: app.settings.session_max_age must be a positive interval, not ''0''',
  'and zero');
set local app.settings.session_max_age = '1 mon -40 days';
select is(tap.outcome($$ select util.interval_setting('session_max_age', interval '30 days') $$, true),
  '500 server.invalid_setting: app.settings.session_max_age must be a positive interval, not ''1 mon -40 days''',
  'and one whose parts add up to less than nothing');
set local app.settings.session_max_age = '90 minutes';
select is(util.interval_setting('session_max_age', interval '30 days'), interval '90 minutes', 'an interval is taken');
set local app.settings.session_max_age = '3600';
select is(util.interval_setting('session_max_age', interval '30 days'), interval '1 hour', 'a bare number is seconds, as Postgres reads it');
set local app.settings.session_max_age = '300000 years';
select is(util.interval_setting('session_max_age', interval '30 days'), interval '100 years',
  'an interval over 100 years counts as 100 years (300,000 years from now is past the last time Postgres holds)');
set local app.settings.session_max_age = '';
select is(util.interval_setting('session_max_age', interval '30 days'), interval '30 days', 'empty is the default');

/* The calls that read them */
select tap.make_users(array['ann', 'bo']);
select tap.make_org('acme', '{"ann": "owner", "bo": "admin"}');

set local app.settings.session_max_age = 'lots';
select is(tap.outcome(tap.fill($$ select auth.issue_session('{ann}', null, null) $$)),
  '500 server.invalid_setting', 'a session is not started with a maximum age that is no interval');
set local app.settings.session_max_age = '300000 years';
select is(tap.outcome(tap.fill($$ select auth.issue_session('{ann}', null, null) $$)), 'ok',
  'and one of 300,000 years starts a session, of 100 years');
reset app.settings.session_max_age;

set local app.settings.signups_per_address_per_hour = 'lots';
select is(tap.outcome($$ select auth.signup('cy@example.com', 'correct horse battery', 'Cy', '192.0.2.9', 'tap') $$),
  '500 server.invalid_setting', 'a sign-up reads its limit per address');
reset app.settings.signups_per_address_per_hour;
set local app.settings.signups_per_minute = 'lots';
select is(tap.outcome($$ select auth.signup('cy@example.com', 'correct horse battery', 'Cy', '192.0.2.9', 'tap') $$),
  '500 server.invalid_setting', 'and its limit in all');
reset app.settings.signups_per_minute;
select tap.fix('dee_token', auth.signup('dee@example.com', 'correct horse battery', 'Dee', '192.0.2.9', 'tap')
                            -> 'session' ->> 'token');
select tap.fix('dee', id) from app.users where email = 'dee@example.com';
set local app.settings.logins_per_account_per_hour = 'lots';
select is(tap.outcome($$ select auth.login('dee@example.com', 'correct horse battery', '192.0.2.9', 'tap') $$),
  '500 server.invalid_setting', 'a login reads its limit per account');
reset app.settings.logins_per_account_per_hour;
set local app.settings.password_changes_per_user_per_hour = 'lots';
select is(tap.outcome(tap.fill($$ select auth.change_password('{dee_token}', 'correct horse battery', 'another horse battery') $$)),
  '500 server.invalid_setting', 'a password change reads its limit per account');
reset app.settings.password_changes_per_user_per_hour;

/* The pre-request reads the idle timeout of the session presented, in every request. */
set local app.settings.session_idle_timeout = 'a week';
select is(tap.outcome(tap.fill($$ select tap.request('GET', tap.cookie('{dee_token}')) $$), true),
  '500 server.invalid_setting: app.settings.session_idle_timeout must be a positive interval, not ''a week''',
  'a request with a session is the server''s error while the idle timeout is no interval');
reset role;
reset app.settings.session_idle_timeout;

/* The organizations' quotas, each a limit of its own. */
select is(tap.call('ann', 'select api.invite_member(''{acme}'', ''one@example.com'', ''member'')'), 'ok', 'ann invites once');
select is(tap.call_with_setting(quota.setting, 'lots', 'ann', quota.call), '500 server.invalid_setting', quota.description)
  from (values
    ('invitations_per_user_per_hour', 'select api.invite_member(''{acme}'', ''two@example.com'', ''member'')',
     'an invitation reads its sender''s limit'),
    ('invitations_per_org_per_hour', 'select api.invite_member(''{acme}'', ''two@example.com'', ''member'')',
     'an invitation reads its organization''s limit'),
    ('invitations_per_address_per_org_per_hour', 'select api.invite_member(''{acme}'', ''two@example.com'', ''member'')',
     'an invitation reads its address''s limit'),
    ('organizations_per_user_per_day', 'select api.create_organization(''Globex'')',
     'a new organization reads its creator''s limit'),
    ('renames_per_org_per_hour', 'select api.update_organization(''{acme}'', ''Acme Two'')',
     'a rename reads its organization''s limit'),
    ('transfers_per_org_per_hour', 'select api.transfer_ownership(''{acme}'', ''{bo}'')',
     'a transfer of ownership reads its organization''s limit'),
    ('role_changes_per_user_per_hour', 'select api.change_member_role(''{acme}'', ''{bo}'', ''member'')',
     'a role change reads its maker''s limit')
  ) as quota (setting, call, description);
select is(tap.call_with_setting('invitations_per_user_per_hour', '-1', 'ann',
                                'select api.invite_member(''{acme}'', ''two@example.com'', ''member'')'),
  '429 invitation.rate_limited (Retry-After: 3600)',
  'a negative limit counts as 1, as every limit''s does: ann sent one this hour (it was a LIMIT of -1, 2201W)');

/* The outside services' */
select tap.make_org('initech', '{"dee": "owner"}');
set local app.settings.ai_monthly_tokens = 'lots';
select is(tap.outcome(tap.fill($$ select app.ai_quota('{initech}') $$)), '500 server.invalid_setting',
  'an organization''s AI quota without a row of its own is the setting, a whole number');
set local app.settings.ai_monthly_tokens = '99999999999';
select is(app.ai_quota(tap.id('initech')), 1000000000, 'and at most 10^9');
reset app.settings.ai_monthly_tokens;
set local role edge;
set local app.settings.ai_calls_per_user_per_hour = 'lots';
select is(tap.outcome(tap.fill($$ select ext.ai_reserve('{dee_token}', '{initech}', 'org_summary', 'gpt-test', sha256('x'), 1) $$)),
  '500 server.invalid_setting', 'an AI request reads its caller''s limit');
reset app.settings.ai_calls_per_user_per_hour;
set local app.settings.slack_connects_per_org_per_hour = 'lots';
select is(tap.outcome(tap.fill($$ select ext.slack_may_connect('{dee_token}', '{initech}', 'C0001') $$)),
  '500 server.invalid_setting', 'a Slack connection reads its organization''s limit');
reset app.settings.slack_connects_per_org_per_hour;
reset role;

/* The housekeeping goes by the database's own settings (util.database_setting). */
set local app.settings.organization_purge_rows = '10';
do $$ begin
  execute format('alter database %I set app.settings.organization_purge_rows = %L', current_database(), 'lots');
end $$;
select is(tap.outcome($$ select pipeline.purge_auth() $$, true),
  '500 server.invalid_setting: app.settings.organization_purge_rows must be a whole number, not ''lots''',
  'the purge is refused while the database''s batch is no whole number, the session''s own a good one');
do $$ begin
  execute format('alter database %I set app.settings.organization_purge_rows = %L', current_database(), '-3');
end $$;
select is(util.database_limit_setting('organization_purge_rows', 100000), 1, 'a negative batch counts as 1');
select is(tap.outcome($$ select pipeline.purge_auth() $$, true), 'ok', 'and the purge runs');
do $$ begin
  execute format('alter database %I reset app.settings.organization_purge_rows', current_database());
  execute format('alter database %I set app.settings.session_idle_timeout = %L', current_database(), 'lots');
end $$;
select is(tap.outcome($$ select pipeline.purge_auth() $$, true),
  '500 server.invalid_setting: app.settings.session_idle_timeout must be a positive interval, not ''lots''',
  'as it is while the database''s idle timeout is no interval');
select is(tap.outcome($$ select util.database_interval_setting('session_idle_timeout', interval '7 days') $$, true),
  '500 server.invalid_setting: app.settings.session_idle_timeout must be a positive interval, not ''lots''',
  'the database''s interval is read by the same rule');
do $$ begin
  execute format('alter database %I set app.settings.session_idle_timeout = %L', current_database(), '2 days');
end $$;
select is(util.database_interval_setting('session_idle_timeout', interval '7 days'), interval '2 days',
  'and taken when it is one');
do $$ begin
  execute format('alter database %I reset app.settings.session_idle_timeout', current_database());
end $$;
select is(util.database_interval_setting('session_idle_timeout', interval '7 days'), interval '7 days',
  'unset, it is the default');

/* One way to read a setting: no function or view of ours casts a setting's text itself. */
select is(
  (select array_agg(name order by name)
     from (select p.oid::regprocedure::text, pg_get_functiondef(p.oid)
             from pg_proc p
            where p.pronamespace::regnamespace::text in ('api', 'app', 'auth', 'delivery', 'ext', 'pipeline', 'util')
              and p.prokind in ('f', 'p')
           union all
           select c.oid::regclass::text, pg_get_viewdef(c.oid)
             from pg_class c
            where c.relnamespace::regnamespace::text in ('admin', 'analytics', 'api', 'app', 'auth', 'pipeline')
              and c.relkind in ('v', 'm')) defined (name, body)
    where body ~* '(util\.(database_)?setting\(([^()]|\([^()]*\))*\)|current_setting\(\s*''app\.settings\.[^)]*\))\)?\s*::'),
  null,
  'no function or view casts what util.setting, util.database_setting or current_setting read: each reads it through a typed reader');

select * from finish();
rollback;
