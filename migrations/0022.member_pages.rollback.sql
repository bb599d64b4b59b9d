-- rollback of member_pages
-- transactional: false

drop index concurrently if exists app.memberships_org_id_id_idx;
