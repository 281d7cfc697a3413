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
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/gpu-pulse
USER 10001:10001

# Samples every GPU into the SQLite store.
FROM runtime AS collector
ENTRYPOINT ["collector"]

# Hourly and daily roll-ups, retention and the central push.
FROM runtime AS scheduler
ENTRYPOINT ["scheduler"]

# Activity SVGs, JSON, health and metrics under gunicorn on port 8080.
FROM runtime AS api
EXPOSE 8080
ENTRYPOINT ["gpupulse-api"]

# Runs batch jobs on idle GPUs (the optional `idle` compose profile).
FROM runtime AS idle
ENTRYPOINT ["gpupulse-idle"]
