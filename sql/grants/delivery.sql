/* Grants on schema delivery: the worker's three calls (sql/functions/delivery/messages.sql). */
grant usage on schema delivery to worker;
grant execute on function
  delivery.claim(text),
  delivery.delivered(text),
  delivery.failed(text, text, boolean)
  to worker;
