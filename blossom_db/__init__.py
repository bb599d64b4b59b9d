"""Typed wrappers for the database functions the edge and the pipeline call (psycopg 3).

`generated.py` is written by `just codegen` from the catalog; `runtime.py` is what the wrappers
share. Neither imports pglast or codegen: both are safe to import at run time.
"""
