"""The Dagster pipeline: batch work that reads and writes through the database API."""
