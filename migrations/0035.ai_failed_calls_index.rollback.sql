-- rollback of ai_failed_calls_index
-- transactional: false
-- Dropped concurrently, as it was made: every AI call writes the ledger meanwhile.

set lock_timeout = '1min';
set statement_timeout = '1min';
drop index concurrently if exists app.ai_usage_failed_org_id_started_at_idx;
reset statement_timeout;
reset lock_timeout;
