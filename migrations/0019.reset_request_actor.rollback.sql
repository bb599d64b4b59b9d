-- rollback of reset_request_actor: the account's owner as the actor again, where it still exists.
set local lock_timeout = '5s';
set local statement_timeout = '30min';
update app.audit_events e set actor_id = u.id
  from app.users u
 where e.action = 'auth.password_reset_requested' and e.actor_id is null and u.id = e.target;
