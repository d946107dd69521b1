# syntax=docker/dockerfile:1
# diamond-scheduler: runs `diamond scheduler`. Build from the repository root:
#   docker build -t diamond-scheduler -f docker/scheduler.Dockerfile .
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
# TLS verification (Nivoda, Resend, Azure, PostgreSQL with sslmode=verify-full).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpq5 libcurl4 libmicrohttpd12 libjansson4 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Unprivileged user with a fixed uid (Kubernetes runAsNonRoot needs a numeric USER).
RUN groupadd --system --gid 10001 diamond \
 && useradd --system --uid 10001 --gid diamond --home-dir /var/lib/diamond --create-home \
      --shell /usr/sbin/nologin diamond
COPY --from=build /build/diamond /usr/local/bin/diamond
WORKDIR /var/lib/diamond
ENV LOG_LEVEL=info
USER 10001:10001
# Runs as a Container Apps Job (cron "0 2 * * *" or a manual start by the API): plans one run and
# exits. Arguments after the image (e.g. --full, --dry-run) are passed to `diamond scheduler`.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/diamond", "scheduler"]
