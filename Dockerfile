# The edge, the worker and the migrate job for docker-compose.yml: edge/, worker/, services/,
# blossom_db/ and deploy/, never the developer tooling (ops/, codegen/). Same pinned packages as
# ./dev installs.
FROM python:3.11-slim-bookworm
WORKDIR /blossom
COPY requirements.lock .
RUN python -m pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY edge edge
COPY worker worker
COPY services services
COPY blossom_db blossom_db
COPY deploy deploy
COPY sql sql
COPY migrations migrations
COPY postgrest.conf .
ENV PYTHONUNBUFFERED=1
USER nobody
EXPOSE 8000
