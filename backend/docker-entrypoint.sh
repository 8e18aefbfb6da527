#!/bin/sh
# Migrate, then serve. Runs once per container, before any worker starts, so workers never race
# each other on the schema. With several replicas, run migrations as a release step instead and
# start the replicas with RUN_MIGRATIONS=0.
set -eu

if [ "${RUN_MIGRATIONS:-1}" != 0 ]; then
    alembic upgrade head
fi

# exec: the server becomes PID 1 and receives `docker stop`'s SIGTERM for a graceful shutdown,
# bounded by SHUTDOWN_TIMEOUT_SECONDS (below docker stop's 10 s grace unless raised with -t).
# PORT is honoured because platforms such as Cloud Run and Render assign one.
exec python -m src.server --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-1}" "$@"
