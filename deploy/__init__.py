"""What production runs besides the edge: `python -m deploy.migrate` (roles, migrations, the
stateless layer, a PostgREST reload). The Docker image carries this package, not `ops`.

It imports nothing else of ours; developer tooling (`ops`, `bench`, the tests) imports it, so
`./dev migrate`, `./dev up`, the tests and the image run the same code (tests/test_import_rules.py).
"""
