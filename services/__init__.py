"""Clients of the services outside Blossom (SMTP, and later Slack, OpenAI, Google Sheets): one
module each, built once per process from settings and passed to whoever sends. The edge, the
worker and the pipeline import these; these import nothing else of ours."""
