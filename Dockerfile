# agentchat relay image. uWebSockets.js ships glibc binaries: Debian-based images only, never Alpine.

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles from source where no prebuilt binary can be fetched: python3, make and g++.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` would build before the sources are copied (the next steps build);
# better-sqlite3's own install script is then run alone.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY . .
RUN npm run build
# What the final image runs: production dependencies only, native modules already built.
RUN npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# State (one SQLite file) lives in a volume, so it outlives the container.
ENV DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
VOLUME /data
# The image's own unprivileged user; the relay needs no root (6667 is not a privileged port).
USER node
EXPOSE 6667
# Healthy when the relay answers GET /healthz on its own port (no curl needed: Node's fetch).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||6667)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=2", "dist/cli.js", "serve", "--host", "0.0.0.0"]
