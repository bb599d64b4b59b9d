-- reset_request_actor: a password reset request was recorded as done by the account's owner,
-- though anyone who has the address may ask for one (auth.request_password_reset records it by no
-- one now), and the pipeline's daily metrics counted the owner active that day. The requests
-- recorded so far lose the actor they never had; their target still names the account.
set local lock_timeout = '5s';
set local statement_timeout = '30min';
update app.audit_events set actor_id = null
 where action = 'auth.password_reset_requested' and actor_id is not null;
