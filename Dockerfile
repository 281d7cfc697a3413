# GPU Pulse images: one build stage and one runtime stage shared by every service, then a
# final stage per service that only names its command. Build one with, for example:
#   docker build --target collector -t gpu-pulse-collector .
# (compose.yaml builds all of them; the shared stages are built once.)

FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first, from pyproject.toml and the lock only, so a code change keeps this layer.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
 && pip install --no-cache-dir -c constraints.txt -r requirements.txt
COPY README.md ./
COPY runtime runtime
COPY store store
COPY protocol protocol
COPY sampling sampling
COPY collector collector
COPY idle idle
COPY scheduler scheduler
COPY api api
RUN pip install --no-cache-dir -c constraints.txt . \
 && python -I -c "import pysqlite3.dbapi2 as s; from store.db import check_sqlite_version as c; print('SQLite', c(s.sqlite_version))"

FROM python:3.12-slim AS runtime
# One UID in every image: every service opens the database's -shm file for writing.
RUN groupadd --system --gid 10001 gpupulse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin gpupulse \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/gpu-pulse
COPY --from=build /opt/venv /opt/venv
# Each image answers to its service's name (`docker compose exec api api --help`), and the
# collector's checks also to their own flag (`docker compose exec collector --dry-run`):
# one directory of such commands per service, put first on that image's PATH.
RUN install -d /opt/commands/collector /opt/commands/api /opt/commands/idle-runner \
 && for flag in dry-run show-db; do \
      printf '#!/bin/sh\nexec collector --%s "$@"\n' "$flag" > "/opt/commands/collector/--$flag" \
      && chmod 0755 "/opt/commands/collector/--$flag"; \
    done \
 && ln -s /opt/venv/bin/gpupulse-api /opt/commands/api/api \
 && ln -s /opt/venv/bin/gpupulse-idle /opt/commands/idle-runner/idle-runner
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/gpu-pulse
USER 10001:10001

# Samples every GPU into the SQLite store.
FROM runtime AS collector
ENV PATH=/opt/commands/collector:$PATH
ENTRYPOINT ["collector"]

# Hourly and daily roll-ups, retention and the central push.
FROM runtime AS scheduler
ENTRYPOINT ["scheduler"]

# Activity SVGs, JSON, health and metrics under gunicorn on port 8080.
FROM runtime AS api
ENV PATH=/opt/commands/api:$PATH
EXPOSE 8080
ENTRYPOINT ["gpupulse-api"]

# Runs batch jobs on idle GPUs (the optional `idle` compose profile).
FROM runtime AS idle
ENV PATH=/opt/commands/idle-runner:$PATH
ENTRYPOINT ["gpupulse-idle"]
