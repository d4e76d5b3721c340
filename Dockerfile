# syntax=docker/dockerfile:1
# chatd images, all on debian:12-slim with Debian's own packages (those of
# scripts/install-deps, minus the test-only ones). Targets:
#   chatd     the chatd binary (every role: CHATD_ROLE), non-root, HEALTHCHECK /readyz
#   web       the web client (web/dist, built beforehand) served by web/serve.mjs
#   postgres  PostgreSQL 15 (Debian's postgresql-15), data in /var/lib/postgresql/data
#   redis     redis-server with AOF, data in /data
# compose.yaml runs the seeds' layout from them. No registry is needed:
# scripts/container-test makes debian:12-slim locally (debootstrap) and builds
# with --pull=never. Web: web/dist is built on the host first
# (scripts/container-test does: cd web && npx vite build); the image only
# serves it.

# ---- build: chatd (Release) -------------------------------------------------
FROM debian:12-slim AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake pkg-config \
      libuv1-dev node-llhttp libpq-dev libhiredis-dev libjansson-dev libjwt-dev libsodium-dev libvips-dev \
      libs3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src/ src/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCHATD_TESTS=OFF >/dev/null \
 && cmake --build build -j "$(nproc)" --target chatd \
 && strip build/chatd

# ---- chatd -------------------------------------------------------------------
FROM debian:12-slim AS chatd
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libuv1 libpq5 libhiredis0.14 libjansson4 libjwt0 libsodium23 libvips42 libs3-2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /opt/chatd --shell /usr/sbin/nologin chatd \
 && mkdir -p /var/lib/chatd/files && chown chatd:chatd /var/lib/chatd/files
WORKDIR /opt/chatd
COPY --from=build /src/build/chatd /opt/chatd/bin/chatd
COPY schema/ /opt/chatd/schema/
COPY db/migrations/ /opt/chatd/db/migrations/
COPY ops/container/healthcheck /usr/local/bin/chatd-healthcheck
# listen on every interface of the container; logs as JSON lines (stderr is
# not a terminal under a container engine anyway)
ENV CHATD_BIND=0.0.0.0 \
    CHATD_SCHEMA=/opt/chatd/schema/chat.graphql \
    CHATD_LOG_FORMAT=json \
    CHATD_FILES_DIR=/var/lib/chatd/files \
    PATH=/opt/chatd/bin:$PATH
USER chatd
EXPOSE 4000 4001 4002 4003 4004 4005 4006
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 CMD ["/usr/local/bin/chatd-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/chatd/bin/chatd"]

# ---- web ---------------------------------------------------------------------
FROM debian:12-slim AS web
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --home-dir /opt/web --shell /usr/sbin/nologin web
WORKDIR /opt/web
COPY web/serve.mjs ./
COPY web/dist/ dist/
ENV CHATD_WEB_HOST=0.0.0.0 CHATD_WEB_PORT=3000
USER web
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.CHATD_WEB_PORT||3000)+'/config.json').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "serve.mjs"]

# ---- postgres ----------------------------------------------------------------
FROM debian:12-slim AS postgres
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY ops/container/postgres-entrypoint /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
VOLUME /var/lib/postgresql/data
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=5 \
  CMD ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]

# ---- redis -------------------------------------------------------------------
FROM debian:12-slim AS redis
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
VOLUME /data
HEALTHCHECK --interval=3s --timeout=3s --start-period=10s --retries=5 CMD ["redis-cli", "ping"]
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", "--appendonly", "yes"]
