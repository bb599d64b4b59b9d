/* Ids arrive at the API as text (PostgREST cannot name a type in schema app); a malformed one
   is simply not found. */
create function util.parse_id(p_value text, p_prefix text) returns text
language sql immutable parallel safe
return case
  when pg_catalog.octet_length(p_value) = pg_catalog.octet_length(p_prefix) + 27
   and pg_catalog.textregexeq(p_value, '^' || p_prefix || '_[0-7][0-9a-hjkmnp-tv-z]*$')
  then p_value
end;

comment on function util.parse_id(text, text) is
  'The value when it has the shape of an id with this prefix, else null.';
