-- rollback of owner_count_index
-- transactional: false

drop index concurrently if exists app.memberships_owners_org_id_idx;
