/*
 * Email verification: sign-up mails a single-use link, valid 24 hours (app.email_verifications
 * keeps its token's SHA-256, app.outbox the mail); following it marks the account's email as
 * verified. Accepting an invitation, which was mailed to the address, verifies it too
 * (api.accept_invitation). What an account may do does not depend on it yet: it is shown
 * (email_verified, in the session and in api.me) for the product to act on.
 */
create function auth.send_email_verification(p_user app.users) returns void
language plpgsql volatile
as $$
declare
  v_token text := util.new_token();
  v_expires timestamptz := pg_catalog.now() + interval '24 hours';
begin
  insert into app.email_verifications (token_hash, user_id, expires_at)
  values (util.token_hash(v_token), p_user.id, v_expires);
  insert into app.outbox (topic, payload)
  values ('mail.email_verification', pg_catalog.jsonb_build_object(
    'to', p_user.email, 'display_name', p_user.display_name, 'token', v_token, 'expires_at', v_expires));
end
$$;

comment on function auth.send_email_verification(app.users) is
  'Queues a verification mail (outbox topic mail.email_verification) with a new token, valid 24 hours.';

/* The account's address is verified: by one of its links (auth.verify_email) or by an invitation
   mailed to it and accepted (api.accept_invitation), under the lock both take
   (app.lock_rate_key('verify', user)). Every link of the account is spent with it: a link mailed
   before an acceptance verified the address again, audited a second time. Audited once, when
   the address becomes verified. */
create function auth.mark_email_verified(p_user app.user_id, p_client_addr inet) returns void
language plpgsql volatile
as $$
begin
  update app.email_verifications v set used_at = pg_catalog.now() where v.user_id = p_user and v.used_at is null;
  update app.users u set email_verified_at = pg_catalog.now() where u.id = p_user and u.email_verified_at is null;
  if found then
    perform auth.audit('auth.email_verified', p_user, p_user, p_client_addr);
  end if;
end
$$;

comment on function auth.mark_email_verified(app.user_id, inet) is
  'Marks the account''s address verified (audited, once) and spends every verification link of it; the caller holds the account''s verify lock.';

create function auth.verify_email(p_token text, p_client_addr inet default null) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_user app.user_id;
begin
  if util.token_is_wellformed(p_token) then
    select v.user_id into v_user from app.email_verifications v where v.token_hash = util.token_hash(p_token);
  end if;
  if v_user is not null then
    /* The account's links are spent one verification at a time, the lock first, then the
       link's row: two links of one account followed at once (the sign-up's mail and a resent
       one) each locked its own row, then waited for the other's to spend it, and Postgres
       broke the deadlock with an error the edge could only answer 500. */
    perform app.lock_rate_key('verify', v_user);
    /* The account's row before the link's: the account's deletion takes them in that order (its
       row, then its links with it), and a link taken first, then the account's row waited for
       (the address marked verified), was a deadlock with a deletion under way (40P01). An
       account gone took its links with it: the link is found no more. */
    perform auth.held_account(v_user);
    -- Expired by the clock, the lock held (auth.confirm_password_reset says why).
    select v.user_id into v_user from app.email_verifications v
     where v.token_hash = util.token_hash(p_token) and v.used_at is null
       and v.expires_at > pg_catalog.clock_timestamp()
       for update;
  end if;
  if v_user is null then
    perform util.raise_error(400, 'auth.invalid_token', 'The verification link is unknown, used or expired.');
  end if;
  perform auth.mark_email_verified(v_user, p_client_addr);
end
$$;

comment on function auth.verify_email(text, inet) is
  'Marks the email of the token''s account as verified and spends the token. Errors: 400 auth.invalid_token.';

/* Another verification mail, for the signed-in account: 3 an hour at most, and 20 an hour from
   one client address, whatever the account. A verification mail goes before every invitation in
   the job queue (app.delivery_priority), and the accounts an address signs up (20 an hour) stay
   unverified for ever: their 3 an hour each, added up, made that lane a flood of one client's. */
create function auth.resend_email_verification(p_token text, p_client_addr inet default null) returns void
language plpgsql volatile security definer set search_path = ''
as $$
declare
  v_session app.sessions := auth.session_from_token(p_token, false);
  v_user app.users;
begin
  if v_session.id is null then
    perform util.raise_error(401, 'auth.not_signed_in', 'Sign in first.');
  end if;
  /* The lock auth.verify_email takes, before the account is read: a verification under way
     ends first and is seen (a link mailed while it ran reached an address verified by then). */
  perform app.lock_rate_key('verify', v_session.user_id);
  v_user := auth.require_held_account(v_session.user_id);
  if v_user.email_verified_at is not null then
    perform util.raise_error(409, 'auth.email_already_verified', 'The email is verified already.');
  end if;
  perform app.spend_quota('verify.resend', v_user.id, 3, interval '1 hour',
                          'auth.rate_limited', 'Too many verification mails; try again later.');
  perform app.spend_quota('verify.resend_addr', util.client_key(p_client_addr), 20, interval '1 hour',
                          'auth.rate_limited', 'Too many verification mails; try again later.');
  perform auth.send_email_verification(v_user);
  perform auth.audit('auth.email_verification_sent', v_user.id, v_user.id, p_client_addr);
end
$$;

comment on function auth.resend_email_verification(text, inet) is
  'Mails the signed-in account another verification link (3 an hour per account, 20 per client address). Errors: 401 auth.not_signed_in, 409 auth.email_already_verified, 429 auth.rate_limited, 500 server.invalid_setting.';
