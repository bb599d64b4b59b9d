/* Grants on schema ext: the edge's /ext routes (edge/ext.py) call these, as role edge. */
grant usage on schema ext to edge;
grant execute on function
  ext.slack_may_connect(text, text, text),
  ext.connect_slack(text, text, text, text, text, text, bytea),
  ext.disconnect_slack(text, text)
  to edge;
