# syntax=docker/dockerfile:1

# ---- builder: build relay and its dependencies as wheels -------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The whole build context (filtered by .dockerignore): pyproject.toml reads
# README.md, and the package data (built-in templates, default config) must be
# present when the wheel is built.
COPY . .
RUN pip wheel --wheel-dir /wheels .

# ---- runtime ---------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RELAY_CONFIG=/etc/relay/relay.yml

RUN groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid relay --home-dir /var/lib/relay \
        --no-create-home --shell /usr/sbin/nologin relay

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels relay

# The embedded default config: log receiver, SQLite under ./data. WORKDIR below
# makes that /var/lib/relay/data/relay.db, inside the data volume. Mount your
# own config over /etc/relay/relay.yml (deploy/relay/relay.yml is the one the
# compose stack uses) and your templates into /etc/relay/templates.
COPY config/relay.yml /etc/relay/relay.yml
RUN mkdir -p /etc/relay/templates /var/lib/relay \
 && chown relay:relay /var/lib/relay

WORKDIR /var/lib/relay
VOLUME ["/var/lib/relay"]

# Numeric, so that Kubernetes' runAsNonRoot can verify it (it is user "relay").
USER 10001:10001

EXPOSE 9095

# slim has no curl; python's urllib raises (exit 1) on anything but 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9095/-/healthy', timeout=4)"]

ENTRYPOINT ["relay"]
CMD ["serve", "--config", "/etc/relay/relay.yml"]
