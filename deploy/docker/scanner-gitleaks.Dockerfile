# syntax=docker/dockerfile:1
# SecBot scanner-gitleaks: fetches exactly what each change adds (git over smart HTTP) and runs the real gitleaks.
# Build from the repository root:  docker build -f deploy/docker/scanner-gitleaks.Dockerfile -t secbot/scanner-gitleaks .
# Mirrors live in SCANNER_DATA_DIR (/data): mount a volume there so restarts fetch only what is new.

# --- gitleaks, pinned, built from source (as scripts/install-gitleaks.sh does on a development machine)
FROM golang:1.26.8-bookworm AS gitleaks
ARG GITLEAKS_VERSION=v8.30.1
RUN CGO_ENABLED=0 GOBIN=/out go install \
      -ldflags "-s -w -X=github.com/zricethezav/gitleaks/v8/version.Version=${GITLEAKS_VERSION}" \
      "github.com/zricethezav/gitleaks/v8@${GITLEAKS_VERSION}" \
 && test "$(/out/gitleaks version)" = "${GITLEAKS_VERSION}"

# --- build: install the workspace, then make the production bundle dist/scanner-gitleaks
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
RUN npm install --global --no-fund --no-audit --loglevel=error pnpm@12.21.0
COPY . .
RUN pnpm install --frozen-lockfile --reporter=silent \
 && node scripts/build-bundles.ts scanner-gitleaks

# --- runtime: git + gitleaks + the bundle, as the unprivileged user
FROM node:24.21.0-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown node:node /data
COPY --from=gitleaks /out/gitleaks /usr/local/bin/gitleaks
ENV NODE_ENV=production \
    SECBOT_LISTEN_HOST=0.0.0.0 \
    SECBOT_CONFIG=/etc/secbot/config.yml \
    SCANNER_PORT=5002 \
    SCANNER_DATA_DIR=/data \
    GITLEAKS_BIN=/usr/local/bin/gitleaks
WORKDIR /app
COPY --from=build --chown=root:root /src/dist/scanner-gitleaks /app
COPY --chown=root:root config.yml /etc/secbot/config.yml
USER node
VOLUME ["/data"]
EXPOSE 5002
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.SCANNER_PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/main.js"]
