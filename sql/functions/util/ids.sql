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

/* An organization's id given to a pipeline function, checked by its shape before anything is
   read or written: a coded 422, not a check violation of app.org_id or nothing found. */
create function util.require_org_id(p_org_id text) returns text
language plpgsql immutable
as $$
begin
  if util.parse_id(p_org_id, 'org') is null then
    perform util.raise_error(422, 'pipeline.invalid_org_id', 'That is not an organization''s id.');
  end if;
  return p_org_id;
end
$$;

comment on function util.require_org_id(text) is
  'The organization''s id given; refused when it has not the shape of one (null included). '
  'Errors: 422 pipeline.invalid_org_id.';

/* Who a client is, for the limits that count per client: an IPv4 address (an IPv4-mapped IPv6
   one as that IPv4 address), or an IPv6 /64, which is what one subscriber is usually given (a
   limit per single IPv6 address, of which every subscriber has billions, would limit nobody).
   The edge counts its limits per the same client (edge/limits.py). */
create function util.client_key(p_addr inet) returns text
language sql immutable parallel safe
return case
  when pg_catalog.family(p_addr) = 4 then pg_catalog.host(p_addr)
  when p_addr <<= inet '::ffff:0.0.0.0/96' then pg_catalog.host(inet '0.0.0.0' + (p_addr - inet '::ffff:0.0.0.0'))
  else pg_catalog.host(pg_catalog.network(pg_catalog.set_masklen(p_addr, 64))) || '/64'
end;

comment on function util.client_key(inet) is
  'The client an address counts as: the IPv4 address (also when IPv4-mapped), or the IPv6 /64 it is in; null for null.';

