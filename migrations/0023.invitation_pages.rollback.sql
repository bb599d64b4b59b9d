-- rollback of invitation_pages
-- transactional: false

drop index concurrently if exists app.invitations_open_org_id_id_idx;
