"""What production runs besides the edge: `python -m deploy.migrate` (roles, migrations, the
stateless layer, a PostgREST reload). The Docker image carries this package, not `ops`.

It imports nothing else of ours but `blossom_db.settings` (its database URL is checked as the
edge's and the worker's are, so that no message shows a part of its password); developer tooling
(`ops`, `bench`, the tests) imports it, so `./dev migrate`, `./dev up`, the tests and the image
run the same code (tests/test_import_rules.py).
"""
