/* Grants on schema ext: the edge's /ext routes (edge/ext.py) call these, as role edge. */
grant usage on schema ext to edge;
grant execute on function
  ext.slack_may_connect(text, text, text),
  ext.connect_slack(text, text, text, text, text, text, bytea),
  ext.disconnect_slack(text, text)
  to edge;
grant execute on function
  ext.ai_org_activity(text, text),
  ext.ai_reserve(text, text, text, text, bytea, integer),
  ext.ai_settle(text, bigint, integer, integer, text),
  ext.ai_release(text, bigint, text)
  to edge;
