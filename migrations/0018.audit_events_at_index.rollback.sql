-- rollback of audit_events_at_index
-- transactional: false

drop index concurrently if exists app.audit_events_at_idx;
