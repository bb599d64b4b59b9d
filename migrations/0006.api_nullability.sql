-- api_nullability: promise, for the generated clients, which result attributes are never null.
-- Composite attributes cannot be declared NOT NULL; codegen reads @notnull in their comments.

comment on column api.user_profile.id is 'The user''s id. @notnull';
comment on column api.user_profile.email is 'Email as given at sign-up. @notnull';
comment on column api.user_profile.display_name is 'Name shown to other people. @notnull';
comment on column api.user_profile.created_at is 'When the account was created. @notnull';
comment on column api.organization.id is 'The organization''s id. @notnull';
comment on column api.organization.name is 'Its name, as given. @notnull';
comment on column api.organization.slug is 'Unique URL slug made from the name. @notnull';
comment on column api.organization.role is 'The caller''s role in it. @notnull';
comment on column api.organization.member_count is 'How many members it has. @notnull';
comment on column api.organization.created_at is 'When it was created. @notnull';
comment on column api.organization.updated_at is 'When it was last renamed. @notnull';
comment on column api.member.membership_id is 'The membership''s id. @notnull';
comment on column api.member.user_id is 'The member''s user id. @notnull';
comment on column api.member.email is 'The member''s email. @notnull';
comment on column api.member.display_name is 'The member''s display name. @notnull';
comment on column api.member.role is 'Their role in the organization. @notnull';
comment on column api.member.joined_at is 'When they joined. @notnull';
comment on column api.invitation.id is 'The invitation''s id. @notnull';
comment on column api.invitation.org_id is 'The organization invited to. @notnull';
comment on column api.invitation.email is 'The invited email. @notnull';
comment on column api.invitation.role is 'The role it grants. @notnull';
comment on column api.invitation.invited_by is 'Who invited; null once that account is deleted.';
comment on column api.invitation.created_at is 'When it was sent. @notnull';
comment on column api.invitation.expires_at is 'When it stops working. @notnull';
comment on column api.audit_event.id is 'The event''s id; ids sort by time. @notnull';
comment on column api.audit_event.at is 'When it happened. @notnull';
comment on column api.audit_event.actor_id is 'Who did it; null for the system or a deleted account.';
comment on column api.audit_event.action is 'What happened, e.g. org.member_removed. @notnull';
comment on column api.audit_event.target is 'What it happened to, when there is one.';
comment on column api.audit_event.details is 'More facts as JSON; never secrets. @notnull';
