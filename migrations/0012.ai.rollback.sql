-- rollback of ai
set local lock_timeout = '5s';
set local statement_timeout = '60s';

drop type api.ai_usage;
drop table app.ai_answers;
drop table app.ai_quotas;
drop table app.ai_usage;
drop type app.ai_outcome;
