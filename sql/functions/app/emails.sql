/* Whether mail can be sent to an address, beyond the shape app.email keeps (sql/schema/020_auth.sql):
   its local part a dot-atom (RFC 5322: words of its characters, one dot between two) without
   `=?`, which mail software reads as the start of an encoded word. Addresses with a dot first,
   last or twice, or an encoded word, were accepted at sign-up and by invitations, and then no
   mail could be sent to them: the worker's email package refused them. The domain keeps its
   shape, which stored addresses were checked against; what is new is checked here. */
create function app.mailable_email(p_email app.email) returns boolean
language sql immutable parallel safe
return pg_catalog.strpos(p_email, '=?') = 0
   and pg_catalog.split_part(p_email, '@', 1) ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*$';

comment on function app.mailable_email(app.email) is
  'Whether mail can be sent to the address: its local part a dot-atom (RFC 5322) without "=?".';
