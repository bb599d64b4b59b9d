/*
 * Opaque tokens (sessions, devices, password resets, invitations): 32 random bytes as 43 base64url characters, given
 * out once. The database keeps only SHA-256 of the token text, so a leaked table grants nothing.
 */
create function util.new_token() returns text
language sql volatile
return pg_catalog.translate(
  pg_catalog.rtrim(pg_catalog.encode(extensions.gen_random_bytes(32), 'base64'), '='), '+/', '-_');

comment on function util.new_token() is 'A new random token: 32 bytes from gen_random_bytes, base64url without padding.';

/* A length and `+`, not `{43}`: Postgres's regex engine runs a counted repeat about ten times
   slower (6 us a check; every session and device token an edge route reads is checked). */
create function util.token_is_wellformed(p_token text) returns boolean
language sql immutable parallel safe
return coalesce(pg_catalog.octet_length(p_token) = 43 and p_token ~ '^[A-Za-z0-9_-]+$', false);

comment on function util.token_is_wellformed(text) is 'Whether the text has the shape of a token made by util.new_token.';

create function util.token_hash(p_token text) returns bytea
language sql stable strict parallel safe
return pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'));

comment on function util.token_hash(text) is 'SHA-256 of a token: what the tables store instead of the token.';
