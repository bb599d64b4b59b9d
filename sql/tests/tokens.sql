/*
 * Opaque tokens (sql/functions/util/tokens.sql): what util.new_token makes, and the shape
 * util.token_is_wellformed accepts (exactly 43 base64url characters, nothing else).
 */
begin;
select plan(10);

select ok(util.token_is_wellformed(util.new_token()), 'a new token is well-formed');
select isnt(util.new_token(), util.new_token(), 'two new tokens differ');
select ok(util.token_is_wellformed(repeat('a', 20) || '-_' || repeat('Z9', 10) || 'x'), 'every base64url character');
select ok(not util.token_is_wellformed(repeat('a', 42)), 'not 42 characters');
select ok(not util.token_is_wellformed(repeat('a', 44)), 'nor 44');
select ok(not util.token_is_wellformed(repeat('a', 42) || '='), 'nor base64 padding');
select ok(not util.token_is_wellformed(repeat('a', 42) || '+'), 'nor standard base64');
select ok(not util.token_is_wellformed(repeat('a', 42) || 'é'), 'nor a letter outside ASCII');
select ok(not util.token_is_wellformed(repeat('a', 43) || chr(10)), 'nor a newline after it');
select ok(not util.token_is_wellformed(null), 'and null is no token (false, not null)');

select * from finish();
rollback;
