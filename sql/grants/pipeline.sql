/* Grants on schema pipeline: the pipeline's housekeeping, to the pipeline role. */
grant usage on schema pipeline to pipeline;
grant execute on function pipeline.purge_auth() to pipeline;
