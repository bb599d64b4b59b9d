-- rollback of departing_inviter_index
-- transactional: false

drop index concurrently if exists app.invitations_open_org_id_invited_by_idx;
