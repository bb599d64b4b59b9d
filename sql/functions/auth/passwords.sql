/*
 * Passwords: bcrypt (pgcrypto) over a pre-hash. bcrypt reads only the first 72 bytes, so the
 * password is first reduced to base64(HMAC-SHA-256(password)) (44 ASCII characters, never a
 * NUL byte), as bcrypt-sha256 schemes do: every byte of a long password counts.
 * Cost: app.settings.bcrypt_cost, default 12, kept within 4..16 (tests lower it).
 *
 * A password is normalised (Unicode NFKC, as NIST SP 800-63B asks) before it is hashed or
 * compared: é typed as one code point or as e and a combining accent (some input methods, text
 * copied from macOS) is one password, and so is a fullwidth letter and its letter. Else the
 * password set on one device was refused on another. Hashes made before, of the password as it
 * was typed, are still compared with it as typed.
 */
create function auth.password_prehash(p_password text) returns text
language sql stable strict parallel safe
return pg_catalog.encode(
  extensions.hmac(pg_catalog.convert_to(p_password, 'UTF8'), pg_catalog.convert_to('blossom.password.v1', 'UTF8'), 'sha256'),
  'base64');

comment on function auth.password_prehash(text) is
  'base64(HMAC-SHA-256(key ''blossom.password.v1'', password)): what bcrypt hashes, so no byte is cut off.';

create function auth.bcrypt_cost() returns integer
language sql stable parallel safe
return least(greatest(util.integer_setting('bcrypt_cost', 12), 4), 16);

comment on function auth.bcrypt_cost() is 'bcrypt cost for new hashes: app.settings.bcrypt_cost, default 12. Errors: 500 server.invalid_setting.';

create function auth.hash_password(p_password text) returns text
language sql volatile strict
return extensions.crypt(auth.password_prehash(pg_catalog.normalize(p_password, 'NFKC')),
                        extensions.gen_salt('bf', auth.bcrypt_cost()));

comment on function auth.hash_password(text) is 'A new bcrypt hash of the (normalised, pre-hashed) password. Errors: 500 server.invalid_setting.';

/* The cost a bcrypt hash was made with ($2a$12$...: 12); null for anything else. */
create function auth.bcrypt_cost_of(p_hash text) returns integer
language sql immutable parallel safe
return case when p_hash ~ '^\$2[abxy]\$[0-9][0-9]\$' then pg_catalog.substr(p_hash, 5, 2)::integer end;

comment on function auth.bcrypt_cost_of(text) is 'The cost of a bcrypt hash ($2a$12$...: 12), null when it is none.';

/* What a wrong password compared with a hash of a lower cost than the current one adds, so that
   it costs what an unknown email's bcrypt (at the current cost) does: one bcrypt of each cost
   from the hash's to the current one less one, 2^current - 2^hash's in all. Hashes keep the cost
   they were made with; once app.settings.bcrypt_cost was raised, a wrong password for an account
   hashed before took a fraction of an unknown email's time (270 ms against 470 ms at costs 12
   and 13), and the time of the answer told which emails have accounts. */
create function auth.bcrypt_padding(p_hash text) returns integer[]
language sql stable
return array(select pg_catalog.generate_series(auth.bcrypt_cost_of(p_hash), auth.bcrypt_cost() - 1));

comment on function auth.bcrypt_padding(text) is
  'The bcrypt costs a failed comparison with this hash runs besides it, so that it costs one bcrypt at the current cost; empty when the hash is of that cost or more. Errors: 500 server.invalid_setting.';

/* Constant work: without a stored hash (unknown email) it still runs the bcrypts of the same
   cost that a stored hash would: one, or two for a password that normalising changes (the one a
   hash made before normalising may be of). A stored hash of a lower cost than the current one
   (made before the cost was raised) is made up to it when the password is wrong
   (auth.bcrypt_padding). What a wrong password costs depends on the password given only. */
create function auth.password_matches(p_password text, p_hash text) returns boolean
language plpgsql volatile
as $$
declare
  v_typed constant text := coalesce(p_password, '');
  v_normal constant text := pg_catalog.normalize(v_typed, 'NFKC');
  v_comparisons constant integer := case when v_typed <> v_normal then 2 else 1 end;
  v_cost integer;
begin
  if p_hash is null then
    perform extensions.crypt(auth.password_prehash(v_normal), extensions.gen_salt('bf', auth.bcrypt_cost()));
    if v_typed <> v_normal then
      perform extensions.crypt(auth.password_prehash(v_typed), extensions.gen_salt('bf', auth.bcrypt_cost()));
    end if;
    return false;
  end if;
  if extensions.crypt(auth.password_prehash(v_normal), p_hash) = p_hash
     or v_typed <> v_normal and extensions.crypt(auth.password_prehash(v_typed), p_hash) = p_hash then
    return true;
  end if;
  for i in 1 .. v_comparisons loop
    foreach v_cost in array auth.bcrypt_padding(p_hash) loop
      perform extensions.crypt(auth.password_prehash(v_normal), extensions.gen_salt('bf', v_cost));
    end loop;
  end loop;
  return false;
end
$$;

comment on function auth.password_matches(text, text) is
  'Whether the password (normalised, or as typed for a hash made before passwords were normalised) matches the hash; '
  'with a null hash, or a wrong password for a hash of a lower cost than the current one, does the work of the current cost and answers false. Errors: 500 server.invalid_setting.';

/* Rules for a new password; raises 422 auth.weak_password. The length and the repetition are
   the normalised password's, the one hashed and compared: as typed, e and a combining accent
   five times were ten code points and passed, and the password, which the composed ééééé opens,
   was five of one character. The bytes are bounded as typed too, before normalising reads them. */
create function auth.check_password(p_password text) returns void
language plpgsql stable
as $$
declare
  v_normal text;
begin
  if pg_catalog.octet_length(p_password) > 1000 then
    perform util.raise_error(422, 'auth.weak_password', 'The password must have at most 1000 bytes.');
  end if;
  v_normal := pg_catalog.normalize(p_password, 'NFKC');
  if v_normal is null or pg_catalog.char_length(v_normal) < 10 then
    perform util.raise_error(422, 'auth.weak_password', 'The password must have at least 10 characters.');
  end if;
  if pg_catalog.octet_length(v_normal) > 1000 then
    perform util.raise_error(422, 'auth.weak_password', 'The password must have at most 1000 bytes.');
  end if;
  if v_normal ~ '^(.)\1*$' then
    perform util.raise_error(422, 'auth.weak_password', 'The password must not repeat one character.');
  end if;
end
$$;

comment on function auth.check_password(text) is
  'Refuses a password shorter than 10 characters, longer than 1000 bytes, or one repeated character, once normalised (NFKC). Errors: 422 auth.weak_password.';
