"""What the pytest modules share; conftest.py only declares fixtures, with these.

- databases: a database per test made from the run's migrated template, and dropped
- stack: a database behind real PostgREST and edge processes (`Stack`, `make_stack`)
- http: a small HTTP client whose every byte is the test's to choose
- auth_client: sign up, log in and read the session cookie through the edge
- mailbox: the outbox's messages, directly or over HTTP for the Node tests
- orgs_db: users and organizations made as the admin, API calls made as a signed-in user
- imports: which of our packages a file imports, read with ast
- preloaded: Python processes forked from one that imported Dagster once
- local_data: data folders (BLOSSOM_DATA_DIR) copied from one made and migrated once
"""
