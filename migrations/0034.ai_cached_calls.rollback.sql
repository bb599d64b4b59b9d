-- rollback of ai_cached_calls: the counts go with their table; the ledger's rows, which they
-- count, stay.

set local lock_timeout = '500ms';
set local statement_timeout = '1min';

drop table app.ai_cached_calls;
