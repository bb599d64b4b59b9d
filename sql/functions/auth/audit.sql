/* The audit trail: one row per security event; never a password or a token in it. */
create function auth.audit(
  p_action text,
  p_actor_id app.user_id,
  p_target text,
  p_client_addr inet,
  p_details jsonb default '{}'
) returns void
language plpgsql volatile
as $$
begin
  insert into app.audit_events (action, actor_id, target, client_addr, details)
  values (p_action, p_actor_id, p_target, p_client_addr, coalesce(p_details, '{}'));
end
$$;

comment on function auth.audit(text, app.user_id, text, inet, jsonb) is
  'Records a security event in app.audit_events (called by the auth functions, as their owner).';
