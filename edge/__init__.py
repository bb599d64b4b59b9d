"""The edge: a thin Starlette app in front of PostgREST that owns HTTP concerns."""
