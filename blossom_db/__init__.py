"""What Blossom's processes (the edge, the worker, the pipeline) share at run time: typed
wrappers for the database functions they call (psycopg 3), their Postgres connections,
settings read from the environment, and one way to log (JSON lines that name the request).

`generated.py` is written by `just codegen` from the catalog; `runtime.py` is what the wrappers
share; `database.py` the connections; `settings.py` the environment; `logs.py` the logging.
None imports pglast or codegen: all are safe to import at run time.
"""
