-- rollback of membership_orders
-- transactional: false

drop index concurrently if exists app.memberships_org_id_joined_at_id_idx;
drop index concurrently if exists app.memberships_org_id_id_idx;
