# syntax=docker/dockerfile:1
# diamond-dashboard: runs `diamond dashboard`. Build from the repository root:
#   docker build -t diamond-dashboard -f docker/dashboard.Dockerfile .
# Stage 1 builds the single `diamond` binary on Debian 12 with the -dev packages and CMake;
# stage 2 is Debian 12 slim with only the binary and the runtime libraries it links
# (tests/deploy/docker_libs.sh checks these packages provide every library `ldd diamond` lists).

FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libpq-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake ./cmake
COPY src ./src
COPY sql ./sql
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DDM_TESTS=OFF \
 && cmake --build /build --target diamond -j"$(nproc)" \
 && strip /build/diamond \
 && /build/diamond --help >/dev/null

FROM debian:12-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries of the binary: libpq, libcurl, libmicrohttpd, jansson, OpenSSL; CA roots for
# TLS verification (Nivoda, Resend, Azure, PostgreSQL with sslmode=verify-full); curl for the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpq5 libcurl4 libmicrohttpd12 libjansson4 libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# Port 80 as a non-root user: grant the binary CAP_NET_BIND_SERVICE (setcap is only needed while
# building this layer, so libcap2-bin is removed again in the same layer).
COPY --from=build /build/diamond /usr/local/bin/diamond
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/diamond \
 && apt-get purge -y --auto-remove libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 diamond \
 && useradd --system --uid 10001 --gid diamond --home-dir /var/lib/diamond --create-home \
      --shell /usr/sbin/nologin diamond
COPY web/dashboard /usr/share/diamond/dashboard
WORKDIR /var/lib/diamond
ENV LOG_LEVEL=info \
    PORT=80 \
    DASHBOARD_DIR=/usr/share/diamond/dashboard
USER 10001:10001
EXPOSE 80
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD curl -fsS --max-time 4 "http://127.0.0.1:${PORT}/" >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/diamond", "dashboard"]
