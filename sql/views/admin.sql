/* The operators' views (schema admin): every tenant's rows, read-only, never a secret. The role
   panopticon (psql, `just psql-admin`) may select these views and nothing else.

   They reach across tenants through their owner, admin_reader: a role that cannot log in, that
   nobody can become, that bypasses nothing. Row Level Security stays forced on every table; the
   policies admin_read (sql/policies/admin.sql) let admin_reader read every row, and its grants
   (sql/grants/app.sql, sql/grants/jobs.sql) are column by column, never a column that holds a
   secret (a password hash, a token hash, an outbox payload): so even a view written by mistake
   could not show one. panopticon itself has no grant on any table and no policy.

   A view reads its tables with its owner's rights, but the functions it calls are checked
   against its reader: so these views call built-ins only (and util.database_interval_setting,
   which panopticon may execute with the reads and refusals it calls, for the sessions' idle
   timeout: the database's, which a reader cannot set longer for itself to see the idle
   sessions, as it could util.setting's; read by its kind, as the API reads it). A view that
   leaves rows out (an expired session, a deleted organization) or sums them up is a security
   barrier: a function in a reader's query (one it could not make anyway: it has no TEMPORARY,
   sql/database.sql; a built-in's error can quote its argument) is applied only to the rows the
   view lets through, not to an expired session the view leaves out. The three that show every
   row of their table (users, memberships, audit_events) are not: there a barrier hides no row,
   and it kept a reader's filter and order from the table's indexes (on 1,000,000 events the
   latest 50 sorted the whole trail; a user found by lower(email) read every user, with both of
   their counts). sql/tests/admin_views.sql states all of it; sql/tests/admin_view_reads.sql
   what those three read. */

/* Made by its owner, who may create in the schema only for that moment. */
grant usage on schema app, jobs, util to admin_reader;
grant usage, create on schema admin to admin_reader;
set local role admin_reader;

create view admin.users as
  select u.id, u.email, u.display_name, u.email_verified_at, u.created_at, u.updated_at,
         (select pg_catalog.count(*) from app.memberships m where m.user_id = u.id) as organizations,
         greatest(u.last_seen_at, (select pg_catalog.max(s.last_seen_at) from app.sessions s where s.user_id = u.id))
           as last_seen_at
    from app.users u;
comment on view admin.users is 'Every account, with how many organizations it belongs to and when it was last seen; no password hash, no token.';

create view admin.organizations with (security_barrier) as
  select o.id, o.name, o.slug, o.created_by, o.created_at, o.updated_at, o.member_count as members,
         (select pg_catalog.count(*) from app.invitations i
           where i.org_id = o.id and i.accepted_at is null and i.declined_at is null and i.revoked_at is null
             and i.expires_at > pg_catalog.now()) as pending_invitations,
         (select pg_catalog.count(*) from app.invitations i where i.org_id = o.id) as invitations
    from app.organizations o
   where o.deleted_at is null;
comment on view admin.organizations is 'Every organization, with its member count, open invitations and invitations ever sent.';

create view admin.memberships as
  select m.id, m.org_id, m.user_id, m.role, m.joined_at
    from app.memberships m;
comment on view admin.memberships is 'Who belongs to which organization, with which role.';

create view admin.active_sessions with (security_barrier) as
  select s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.client_addr, s.user_agent
    from app.sessions s
   where s.revoked_at is null
     and s.expires_at > pg_catalog.now()
     -- Elapsed time, as auth.session_is_dead_after counts it: in the reader's time zone, 7 days
     -- back on the wall clock are 167 or 169 hours when its clocks changed meanwhile.
     and s.last_seen_at > pg_catalog.now()
                          -- A subquery: read once, not for every row (a call with an exception
                          -- block each), and the scan may still be parallel.
                          - (select pg_catalog.make_interval(secs => extract(epoch from
                               util.database_interval_setting('session_idle_timeout', interval '7 days'))));
comment on view admin.active_sessions is 'Sessions still valid (not revoked, expired or idle); never their token hash.';

create view admin.audit_events as
  select e.id, e.at, e.actor_id, e.action, e.org_id, e.target, e.client_addr, e.details
    from app.audit_events e;
comment on view admin.audit_events is 'The audit trail of every tenant (it never holds a secret).';

/* Withdrawn, a message given up because there was nothing to send any more, not because sending
   failed: an invitation's mail whose invitation was taken back (delivery.claim), a Slack post
   whose organization has no working connection any more (delivery.claim_slack_post). Both
   write the reason as `withdrawn: …` (app.withdraw_message), which no failure's error starts
   with (the worker opens each with its own words: `refused: …`, `Slack refused …`, never a
   server's reply). Counted as failed, each was a false alarm. */
create view admin.outbox_health with (security_barrier) as
  select o.topic,
         pg_catalog.count(*) filter (where m.waiting and m.queued) as pending,
         pg_catalog.count(*) filter (where m.waiting and m.queued and o.attempts > 0) as retrying,
         pg_catalog.count(*) filter (where m.waiting and not m.queued) as unsent,
         pg_catalog.count(*) filter (where o.given_up_at is not null and not m.withdrawn) as failed,
         pg_catalog.count(*) filter (where m.withdrawn) as withdrawn,
         pg_catalog.count(*) filter (where o.delivered_at is not null) as delivered,
         pg_catalog.now() - pg_catalog.min(o.created_at) filter (where m.waiting and m.queued) as oldest_pending_age,
         pg_catalog.max(o.given_up_at) filter (where not m.withdrawn) as last_failed_at
    from app.outbox o
    /* A message is pending while a delivery job of the queue holds it (its lock names it) and
       will run: an organization's event without a working Slack channel got none, and a job
       that ended without delivering the message or giving it up (it failed on an error the
       worker did not expect, or a DBA cancelled it) runs no more, though it still names it.
       Both wait for nothing: unsent. A job that ended stays in the table (only a succeeded one
       is deleted), and counted so, such a message was pending and retrying for ever. */
    left join (select distinct j.lock from jobs.procrastinate_jobs j
                where j.lock like 'outbox:%' and j.status in ('todo', 'doing', 'aborting')) q
      on q.lock = 'outbox:' || o.id
   cross join lateral (select o.delivered_at is null and o.given_up_at is null as waiting,
                              q.lock is not null as queued,
                              o.given_up_at is not null and coalesce(o.last_error like 'withdrawn: %', false)
                                as withdrawn) m
   group by o.topic;
comment on view admin.outbox_health is 'The outbox per topic: pending (a delivery job that will run holds it; retrying: tried before), unsent (no delivery job will try it: none was queued, an organization''s event without a working Slack channel, kept as a record; or its job ended, failed or cancelled, without delivering it or giving it up), failed (given up), withdrawn (given up with nothing to send any more: an invitation taken back, a reset or verification link spent or its account deleted, a Slack connection gone), delivered (in the last 30 days), the oldest pending message''s age and when the last one failed.';

create view admin.failed_deliveries with (security_barrier) as
  select o.id as event_id, o.topic, o.created_at, o.attempts, o.last_attempt_at, o.last_error, o.given_up_at
    from app.outbox o
   where o.given_up_at is not null and not coalesce(o.last_error like 'withdrawn: %', false);
comment on view admin.failed_deliveries is 'Messages given up, each with its last error (never its payload); not those withdrawn (admin.outbox_health).';

create view admin.job_queue with (security_barrier) as
  select j.queue_name, j.task_name, j.status::text as status, pg_catalog.count(*) as jobs,
         pg_catalog.max(j.attempts) as most_attempts,
         pg_catalog.now() - pg_catalog.min(d.at) as oldest_age
    from jobs.procrastinate_jobs j
    left join jobs.procrastinate_events d on d.job_id = j.id and d.type = 'deferred'
   group by j.queue_name, j.task_name, j.status;
comment on view admin.job_queue is 'The job queue by queue, task and status (a succeeded job is deleted): how many, and the oldest''s age since it was deferred.';

/* The last day is 24 hours: interval '1 day' is a day of the reader's wall clock, 23 or 25
   hours where its clocks changed. */
create view admin.rate_limit_pressure with (security_barrier) as
  select h.kind,
         pg_catalog.count(*) filter (where h.at > pg_catalog.now() - interval '1 hour') as hits_last_hour,
         pg_catalog.count(*) as hits_last_day,
         pg_catalog.count(distinct h.key) filter (where h.at > pg_catalog.now() - interval '1 hour') as subjects_last_hour,
         pg_catalog.max(h.at) as last_hit_at
    from app.rate_limit_hits h
   where h.at > pg_catalog.now() - interval '24 hours'
   group by h.kind;
comment on view admin.rate_limit_pressure is 'Rate-limited actions of the last day per kind: hits in the last hour and day, and how many subjects (addresses, accounts) hit them in the last hour.';

create view admin.ai_usage with (security_barrier) as
  select u.org_id, (pg_catalog.date_trunc('month', u.started_at at time zone 'UTC'))::date as month,
         pg_catalog.count(*) as requests,
         pg_catalog.count(*) filter (where u.outcome = 'answered') as answered,
         pg_catalog.count(*) filter (where u.outcome = 'cached') as cached,
         pg_catalog.count(*) filter (where u.outcome = 'failed') as failed,
         -- Under way, or never settled (the edge died during the call, or could not reach the
         -- database to settle it, logged at ERROR: the reservation is left to lapse; an answer
         -- without token counts is marked failed by the edge): held against the quota for
         -- app.ai_reservation_lifetime(), then charged its reservation there (app.ai_usage_view),
         -- not in the token sums below. Left out, requests were more than their outcomes.
         pg_catalog.count(*) filter (where u.outcome = 'reserved') as reserved,
         pg_catalog.sum(u.prompt_tokens) as prompt_tokens,
         pg_catalog.sum(u.completion_tokens) as completion_tokens,
         (select q.monthly_tokens from app.ai_quotas q where q.org_id = u.org_id) as quota_override_tokens,
         pg_catalog.count(u.reported_tokens) as over_reported,
         -- Such a call was charged its reservation, all of it.
         coalesce(pg_catalog.sum(u.reported_tokens - u.prompt_tokens - u.completion_tokens), 0) as over_reported_tokens
    from app.ai_usage u
   -- Not of an organization deleted, whose ledger waits for the purge.
   where not exists (select from app.organizations o where o.id = u.org_id and o.deleted_at is not null)
   group by u.org_id, 2;
comment on view admin.ai_usage is 'AI use per organization and month (UTC): requests by outcome (answered, cached, failed, and reserved: under way or never settled, which the quota charges its reservation once lapsed), tokens the provider counted, the organization''s own monthly quota when an operator set one (else app.settings.ai_monthly_tokens applies), and the calls the provider reported more tokens for than they reserved (each charged its reservation), with the tokens reported beyond, charged to nobody.';

/* The organizations their owners deleted (api.delete_organization), gone for everyone else, whose
   history the hourly housekeeping purges a batch at a time (app.purge_deleted_organizations),
   with what is left of it: the work still to do. */
create view admin.organization_deletions with (security_barrier) as
  select o.id, o.name, o.deleted_at,
         (select pg_catalog.count(*) from app.invitations i where i.org_id = o.id) as invitations,
         (select pg_catalog.count(*) from app.ai_usage u where u.org_id = o.id) as ai_requests
    from app.organizations o
   where o.deleted_at is not null;
comment on view admin.organization_deletions is 'The organizations their owners deleted whose rows the hourly housekeeping has not purged yet: when, and their invitations and AI requests left.';

set local role blossom_owner;
revoke create on schema admin from admin_reader;
