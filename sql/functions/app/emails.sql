/* The text as an app.email, or null when it has not the domain's shape (sql/schema/020_auth.sql),
   which every stored address has: text of any other shape is no account's address. */
create function app.email_or_null(p_text text) returns app.email
language plpgsql immutable
as $$
begin
  return p_text::app.email;
exception when check_violation then
  return null;
end
$$;

comment on function app.email_or_null(text) is
  'The text as an app.email, else null (the domain''s check refused it).';

/* The text as an address mail can be sent to, or null: of app.email's shape
   (sql/schema/020_auth.sql), and beyond it its local part a dot-atom (RFC 5322: words of its
   characters, one dot between two) without `=?`, which mail software reads as the start of an
   encoded word. Addresses with a dot first, last or twice, or an encoded word, were accepted at
   sign-up and by invitations, and then no mail could be sent to them: the worker's email
   package refused them. The domain keeps its shape, which stored addresses were checked
   against; what is new is checked here. */
create function app.mailable_email(p_email text) returns app.email
language plpgsql immutable
as $$
begin
  if p_email is null or pg_catalog.strpos(p_email, '=?') > 0
     or pg_catalog.split_part(p_email, '@', 1) !~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*$'
     -- A host that is an address (x@127.0.0.1, a@0x7f.1): no top-level domain is all digits
     -- (RFC 3696), and a relay could read one as an internal host to send to.
     or pg_catalog.split_part(p_email, '@', 2) ~ '\.[0-9]+$' then
    return null;
  end if;
  return app.email_or_null(p_email);
end
$$;

comment on function app.mailable_email(text) is
  'The text as an app.email that mail can be sent to (its local part a dot-atom, RFC 5322, without "=?"; its host a name, whose top-level domain is not all digits), else null.';
