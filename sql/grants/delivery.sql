/* Grants on schema delivery: the worker's calls (sql/functions/delivery/messages.sql, slack.sql). */
grant usage on schema delivery to worker;
grant execute on function
  delivery.claim(text),
  delivery.still_wanted(text),
  delivery.delivered(text),
  delivery.failed(text, text, boolean),
  delivery.claim_slack_post(text),
  delivery.slack_broken(text, text, timestamptz)
  to worker;
