# agentchat relay image. uWebSockets.js ships glibc binaries: Debian-based images only, never Alpine.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` would build before the sources are copied (the next steps build).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The image's own unprivileged user; the relay needs no root (6667 is not a privileged port).
USER node
EXPOSE 6667
# Healthy when the relay answers a PING over a real WebSocket (any frame back means it is serving).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["node", "-e", "const W=require('ws');const s=new W('ws://127.0.0.1:'+(process.env.PORT||6667));const t=setTimeout(()=>process.exit(1),4000);s.on('open',()=>s.send(JSON.stringify({type:'PING'})));s.on('message',()=>{clearTimeout(t);s.terminate();process.exit(0)});s.on('error',()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=2", "dist/cli.js", "serve", "--host", "0.0.0.0"]
