# syntax=docker/dockerfile:1
# Rosey in a container: one image, one Rosey process per container; the command picks the role
# (compose.yaml and deploy/kubernetes/ run `bot …`, and the lean `rosey-db` binary, the same as
# `rosey db-service`, for the database service). See docs/deploy.md.
#
#   docker build -t rosey .

# --- build: the workspace, release profile, exactly the locked dependencies ---
FROM rust:1.94-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p rosey \
 && install -D -m 0755 target/release/rosey /out/rosey \
 && install -D -m 0755 target/release/rosey-db /out/rosey-db

# --- runtime: slim Debian, CA certificates (TLS to CyTube and NATS), curl for the health check ---
FROM debian:bookworm-slim
# Unpinned on purpose (DL3008): bookworm's security updates replace old versions, so a pin
# would break the build; the base image tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rosey \
 && useradd --system --uid 10001 --gid rosey --home-dir /var/lib/rosey --shell /usr/sbin/nologin rosey \
 && install -d -o rosey -g rosey -m 0750 /var/lib/rosey /etc/rosey
COPY --from=builder /out/rosey /out/rosey-db /usr/local/bin/

# Not root. The SQLite file goes to /var/lib/rosey (a volume); everything else can be read-only.
USER 10001:10001
WORKDIR /var/lib/rosey
# Containers serve /metrics, /healthz and /readyz on port 9100 (`--metrics-listen 0.0.0.0:9100`
# in the command); ROSEY_HEALTH_URL moves the health check if a command listens elsewhere.
ENV ROSEY_HEALTH_URL=http://127.0.0.1:9100/healthz
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/bin/sh", "-c", "curl --silent --fail --output /dev/null --max-time 2 \"$ROSEY_HEALTH_URL\" || exit 1"]
# SIGTERM is a clean stop (exit 0): the database service flushes and closes sessions.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rosey"]
CMD ["--help"]
