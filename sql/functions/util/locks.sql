/* The key of the advisory lock of a name (app.lock_org, app.lock_ai, app.lock_rate_key): the
   first 64 bits of the name's SHA-256. A name may hold what a caller typed (a login's address,
   an invitation's), and hashtextextended, the hash keys were made with before, is a hash for
   hash tables that can be inverted: inverting its last mix for an organization's id, a search
   of seconds found the 12-character address whose login took that organization's lock (the
   login's 'rate:login:' and that address hashed as 'org:' and the id), so anyone, signed in
   or not, could hold it through the login's bcrypt. Another name's key now takes 2**64 tries. */
create function util.lock_key(p_name text) returns bigint
language sql stable strict parallel safe
return ('x' || pg_catalog.encode(pg_catalog.substr(util.token_hash(p_name), 1, 8), 'hex'))::bit(64)::bigint;

comment on function util.lock_key(text) is
  'The advisory lock key of a name: the first 64 bits of its SHA-256, which no other name is made to share.';
