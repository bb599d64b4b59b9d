"""Codegen: reads the migrated catalog and writes the TypeScript client and Python wrappers."""
