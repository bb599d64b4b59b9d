/* Grants on schema admin: operators (panopticon) read its views. */
grant usage on schema admin to panopticon;
