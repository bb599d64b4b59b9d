/*
 * The rows of the organizations their owners deleted, purged after the deletion.
 *
 * api.delete_organization takes an organization out of every reader's sight at once (its row
 * marked deleted_at, its memberships, open invitations and Slack connection gone): what that
 * costs is bounded by what its owner controls. Its history stays behind for a while: every
 * invitation it ever sent (50 an hour), every AI request of its members (the ledger keeps each),
 * its daily metrics. Deleting those in the owner's call, as the foreign keys' cascades did, grew
 * with that history without bound, past the API's statement timeout (5.6 s at 166,000
 * invitations), and the organization could not be deleted at all. The hourly housekeeping
 * (pipeline.purge_auth) deletes them here, a bounded number of rows a run, and the
 * organization's row once nothing of it is left, whose cascades then find nothing.
 *
 * As org_purger, a role without login that reads which organizations were deleted and may
 * delete any row of the tables that refer to one (its policies, sql/policies/orgs.sql): the
 * housekeeping runs as the owner, whose policies show it no tenant's rows. The function deletes
 * only rows of organizations marked deleted.
 */
grant usage, create on schema app to org_purger;
grant usage, create on schema pipeline to org_purger;
set local role org_purger;

create function app.purge_deleted_organizations(p_rows integer, out organizations integer, out rows_deleted bigint)
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_left bigint := greatest(p_rows, 0)::bigint;
  v_org app.org_id;
  v_deleted bigint;
begin
  organizations := 0;
  for v_org in
    select o.id from app.organizations o where o.deleted_at is not null order by o.deleted_at, o.id
  loop
    /* The tables that keep a row per event of an organization's history, each a batch found by
       its index that starts with the organization (a batch of none once the budget is spent).
       What else refers to an organization holds a row per day, week or month at most (its
       metrics, digests, cached calls' counts), or one (its quota), and goes with the
       organization's row, by the foreign keys' cascades; its memberships and Slack connection
       went with the deletion. */
    delete from app.invitations t
     where t.org_id = v_org and t.id = any (array(select x.id from app.invitations x where x.org_id = v_org limit v_left));
    get diagnostics v_deleted = row_count;
    v_left := v_left - v_deleted;
    delete from app.ai_usage t
     where t.org_id = v_org and t.id = any (array(select x.id from app.ai_usage x where x.org_id = v_org limit v_left));
    get diagnostics v_deleted = row_count;
    v_left := v_left - v_deleted;
    delete from app.ai_answers t
     where t.org_id = v_org
       and t.request_hash = any (array(select x.request_hash from app.ai_answers x where x.org_id = v_org limit v_left));
    get diagnostics v_deleted = row_count;
    v_left := v_left - v_deleted;
    delete from app.membership_departures t
     where t.org_id = v_org
       and t.id = any (array(select x.id from app.membership_departures x where x.org_id = v_org limit v_left));
    get diagnostics v_deleted = row_count;
    v_left := v_left - v_deleted;
    /* A budget spent on the organization's last rows leaves nothing of it: its row goes now, not
       an hour later. */
    exit when v_left = 0
          and (exists (select from app.invitations x where x.org_id = v_org)
               or exists (select from app.ai_usage x where x.org_id = v_org)
               or exists (select from app.ai_answers x where x.org_id = v_org)
               or exists (select from app.membership_departures x where x.org_id = v_org));
    delete from app.organizations o where o.id = v_org and o.deleted_at is not null;
    /* Counted when deleted here: a run at the same time as another waited for its locks, then
       found the organization gone. */
    if found then
      organizations := organizations + 1;
    end if;
    exit when v_left = 0;
  end loop;
  rows_deleted := greatest(p_rows, 0)::bigint - v_left;
end
$$;

comment on function app.purge_deleted_organizations(integer) is
  'Deletes at most p_rows rows of the organizations their owners deleted, oldest deletion first, and each organization''s row once nothing of it is left; how many organizations and rows.';

/* Which organizations were deleted, for the pipeline's export of the daily metrics
   (pipeline.org_daily_metrics, run as the role pipeline, which reads no table of app), whose rows
   of them wait for the purge. */
create function pipeline.deleted_organizations() returns setof app.org_id
language sql stable security definer set search_path = ''
begin atomic
  select o.id from app.organizations o where o.deleted_at is not null;
end;

comment on function pipeline.deleted_organizations() is
  'The organizations their owners deleted whose rows are not purged yet, whatever the caller may see.';

set local role blossom_owner;
revoke create on schema app from org_purger;
revoke create on schema pipeline from org_purger;
