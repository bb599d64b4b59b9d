/* The pre-request's door into app.sessions: auth.presented_session, a view of the session whose
   token the request presents, owned by session_reader, a role that cannot log in and that
   nobody can become. The policy presented_only (not the view text) bounds what it shows: the
   one row whose token hash is the hash of auth.presented_token(), so that knowing the token
   is the only way to see a session, and only its user id, its id and whether it is due to be
   marked as used. A view, not a SECURITY DEFINER function: it is planned into the
   pre-request's query, with no function call and no switch of role or search_path, which
   bench/proxy.py measured as the larger part of the pre-request's cost. The functions it
   calls run as the caller (web_anon), who is granted them (sql/grants/auth.sql). */
/* Made by its owner, who may create in the schema only for that moment. */
grant usage on schema app to session_reader;
grant usage, create on schema auth to session_reader;
set local role session_reader;
create view auth.presented_session as
  select s.user_id::text as user_id, s.id::text as session_id,
         s.last_seen_at < pg_catalog.now() - interval '1 minute' as stale
    from app.sessions s
   where not auth.session_is_dead(s);
comment on view auth.presented_session is
  'The valid session of the token this request presents (policy presented_only), for auth.pre_request.';
revoke all on auth.presented_session from session_reader;

set local role blossom_owner;
revoke create on schema auth from session_reader;
