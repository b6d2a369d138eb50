# syntax=docker/dockerfile:1
# SecBot notifier-slack: tells Slack about new blocking findings.
# Build from the repository root:  docker build -f deploy/docker/notifier-slack.Dockerfile -t secbot/notifier-slack .
# (or: docker-compose -f deploy/docker-compose.yml up --build)

# --- build: install the workspace, then make the production bundle dist/notifier-slack (scripts/build-bundles.ts)
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
RUN npm install --global --no-fund --no-audit --loglevel=error pnpm@12.21.0
COPY . .
RUN pnpm install --frozen-lockfile --reporter=silent \
 && node scripts/build-bundles.ts notifier-slack

# --- runtime: the bundle only (compiled JavaScript + production node_modules), as the unprivileged user
FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production \
    SECBOT_LISTEN_HOST=0.0.0.0 \
    SECBOT_CONFIG=/etc/secbot/config.yml \
    NOTIFIER_SLACK_PORT=5004
WORKDIR /app
COPY --from=build --chown=root:root /src/dist/notifier-slack /app
COPY --chown=root:root config.yml /etc/secbot/config.yml
USER node
EXPOSE 5004
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.NOTIFIER_SLACK_PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/main.js"]
