# Tickbridge production image: build with every dependency, run with production dependencies only, as the
# unprivileged `node` user. test/ops/image.test.ts performs these same steps in a clean folder (no Docker
# engine needed) and CI runs it, so keep each instruction simple: WORKDIR, COPY, RUN, ENV, USER, EXPOSE,
# HEALTHCHECK, CMD.

FROM node:22.23-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY jobs ./jobs
RUN npm run build

FROM node:22.23-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 LOG_FORMAT=json
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Only the shipped example (the fallback rules, and the template `tickbridge rules check` points to) and
# its documentation: never whatever else lies in a local config/ (rules of other installs, their keys).
# The rules to run with are mounted (compose.yaml) or given with TICKBRIDGE_RULES.
COPY config/rules.example.yaml ./config/rules.example.yaml
COPY config/README.md ./config/README.md
USER node
EXPOSE 3000
# /readyz is 200 only when Redis answers, the rules are loaded and the queues are ready. The slim image
# has no curl: Node's own fetch asks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Plain node as PID 1's child-free process: SIGTERM from `docker stop` reaches the service directly.
CMD ["node", "dist/src/main.js", "all"]
