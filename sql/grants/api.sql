/*
 * Grants on schema api: every function of the API, to both API roles. To web_anon too, so that
 * an anonymous call of a function that needs a user is answered 401 auth.not_signed_in by the
 * function, not 401 42501 by Postgres. A function in api granted to nobody is refused by the
 * lint stage (sql/tests/lint.sql), unless its comment marks it @internal.
 */
grant usage on schema api to web_anon, authenticated;
grant execute on function
  api.me(),
  api.update_profile(text),
  api.create_organization(text),
  api.list_organizations(),
  api.get_organization(text),
  api.update_organization(text, text),
  api.delete_organization(text),
  api.list_members(text, text, integer),
  api.invite_member(text, text, text),
  api.list_invitations(text, text, integer),
  api.revoke_invitation(text),
  api.accept_invitation(text),
  api.decline_invitation(text),
  api.change_member_role(text, text, text),
  api.remove_member(text, text),
  api.leave_organization(text),
  api.transfer_ownership(text, text),
  api.list_audit_events(text, text, integer),
  api.get_slack_connection(text),
  api.get_ai_usage(text)
  to web_anon, authenticated;
