# hyperdeno as a container, with Hyperdrive's conventions: the node's home is the volume at
# /hyperdrive-home, HTTP on 8080, networking on 9000 (WebSockets) and 10000 (TCP).
#
#   npm ci && docker build -t hyperdeno .
#   docker run -d -p 8080:8080 -v hyperdeno-home:/hyperdrive-home hyperdeno \
#     /hyperdrive-home --detached --password <password>
#
# Nothing is downloaded while building but Debian packages: the Deno binary and the npm
# packages the node loads come from the build context (`npm ci` first; .dockerignore lets
# in only what the runtime needs). BASE may be any Debian-like glibc image.
ARG BASE=debian:12-slim

# The application tree: the runtime's code, its npm packages and the Deno binary.
FROM ${BASE} AS app
# marks this stage's cached images, so a CI machine can prune them
LABEL org.hyperdeno.stage=app
COPY . /app/
RUN set -eu; \
    deno=$(ls /app/node_modules/@deno/linux-*-glibc/deno); \
    [ "$(echo "$deno" | wc -l)" = 1 ] || { echo "expected one Deno binary, found: $deno" >&2; exit 1; }; \
    install -m 0755 "$deno" /usr/local/bin/deno; \
    rm -rf /app/node_modules/@deno; \
    cd /app; \
    DENO_DIR=/app/.deno deno cache -q --config=deno.json main.ts kernel/process_host/worker.ts \
      modules/sqlite/worker.ts modules/kv/worker.ts modules/vfs/zip_worker.ts \
      kernel/process_host/transpile_worker.ts; \
    chmod -R a+rX,go-w /app

FROM ${BASE}
RUN set -eu; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log; \
    groupadd -g 1000 hyperdeno; \
    useradd -u 1000 -g hyperdeno -M -d /hyperdrive-home -s /usr/sbin/nologin hyperdeno; \
    mkdir -p /hyperdrive-home; \
    chown hyperdeno:hyperdeno /hyperdrive-home
COPY --from=app /usr/local/bin/deno /usr/local/bin/deno
COPY --from=app /app /app

# Deno's cache, filled at build time and read-only at run time (the node's home holds only the
# node); no update checks, and never a permission prompt. Two malloc arenas: glibc otherwise
# keeps freed per-Worker copies around (a component's Worker 30 -> 23 MB; BENCHMARKS.md).
ENV DENO_DIR=/app/.deno \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    MALLOC_ARENA_MAX=2

USER hyperdeno
WORKDIR /hyperdrive-home
VOLUME /hyperdrive-home

# The node runs under deno.json's `node` permission set, with writes narrowed to the volume.
# The CLI handles SIGTERM (docker stop) by shutting the node down gracefully.
ENTRYPOINT ["deno", "run", "-q", "--config=/app/deno.json", "-P=node", "--allow-write=/hyperdrive-home", "/app/main.ts"]
CMD ["/hyperdrive-home"]

EXPOSE 8080
EXPOSE 9000
EXPOSE 10000
