/**
 * A Dockerfile and a docker-compose.yml for one relay, optionally with Redis. The
 * Dockerfile installs the relay package (this CLI's own version by default) rather
 * than building sources, so the output directory alone is the build context.
 */
import { stringify } from 'yaml';
import { DATA_DIR, RELAY_PORT, YAML_OUT } from './relay.js';

export interface DockerOptions {
  /** The agentchat version the image installs by default. */
  version: string;
  /** Add a Redis service (AOF on) and point the relay at it. */
  redis: boolean;
}

export const RELAY_SERVICE = 'relay';
export const REDIS_SERVICE = 'redis';
export const REDIS_URL = `redis://${REDIS_SERVICE}:6379`;
/** Debian, as the repo's own Dockerfile: uWebSockets.js ships glibc binaries only. */
const BASE_IMAGE = 'node:20-bookworm-slim';
const REDIS_IMAGE = 'redis:7-bookworm';
/** The relay's CLI inside the image, where `npm install` puts the package. */
const CLI_PATH = 'node_modules/agentchat/dist/cli.js';

/** GET /healthz with Node's own fetch: the slim image has no curl or wget. */
export const HEALTHCHECK: readonly string[] = [
  'node',
  '-e',
  `fetch('http://127.0.0.1:'+(process.env.PORT||${RELAY_PORT})+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))`,
];

export function dockerfile(options: DockerOptions): string {
  return `# agentchat relay image, written by \`agentchat deploy --provider docker\`.
# Debian-based: uWebSockets.js ships glibc binaries only, never use Alpine.

FROM ${BASE_IMAGE} AS install
# Any npm package spec: a version, a git URL, or a tarball from \`npm pack\` put next to this file.
ARG AGENTCHAT_PACKAGE=agentchat@${options.version}
WORKDIR /app
COPY . ./
RUN npm install --omit=dev --no-save --no-audit --no-fund "$AGENTCHAT_PACKAGE" && npm cache clean --force

FROM ${BASE_IMAGE}
ENV NODE_ENV=production
ENV DATA_DIR=${DATA_DIR}
WORKDIR /app
COPY --from=install /app/node_modules ./node_modules
# Owned by the unprivileged user before the volume is mounted: Docker copies this ownership into a new volume.
RUN mkdir -p ${DATA_DIR} && chown node:node ${DATA_DIR}
USER node
EXPOSE ${RELAY_PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \\
  CMD ${JSON.stringify(HEALTHCHECK)}
ENTRYPOINT ["node", "--max-semi-space-size=2", "${CLI_PATH}"]
CMD ["serve", "--host", "0.0.0.0"]
`;
}

export interface ComposeService {
  build?: { context: string; args: Record<string, string> };
  image: string;
  command: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes: string[];
  healthcheck: { test: string[]; interval: string; timeout: string; start_period: string; retries: number };
  restart: 'unless-stopped';
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: 'service_healthy' }>;
}

export interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, Record<string, never>>;
}

export function compose(options: DockerOptions): Compose {
  const relay: ComposeService = {
    // ${VAR:-default}: compose reads AGENTCHAT_PACKAGE from the shell or .env, e.g. a local tarball.
    build: { context: '.', args: { AGENTCHAT_PACKAGE: `\${AGENTCHAT_PACKAGE:-agentchat@${options.version}}` } },
    image: `agentchat:${options.version}`,
    command: ['serve', '--host', '0.0.0.0', ...(options.redis ? ['--redis', REDIS_URL] : [])],
    environment: { PORT: String(RELAY_PORT), DATA_DIR },
    ports: [`${RELAY_PORT}:${RELAY_PORT}`],
    volumes: [`relay-data:${DATA_DIR}`],
    healthcheck: { test: ['CMD', ...HEALTHCHECK], interval: '30s', timeout: '5s', start_period: '5s', retries: 3 },
    restart: 'unless-stopped',
    // The relay drains on SIGTERM and exits within 5 s; compose's default 10 s leaves it room.
    stop_grace_period: '10s',
  };
  const services: Record<string, ComposeService> = { [RELAY_SERVICE]: relay };
  const volumes: Compose['volumes'] = { 'relay-data': {} };
  if (options.redis) {
    relay.depends_on = { [REDIS_SERVICE]: { condition: 'service_healthy' } };
    services[REDIS_SERVICE] = {
      image: REDIS_IMAGE,
      // AOF: every write is logged and replayed on restart (fsync each second), so a restart keeps the cluster's state.
      command: ['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec'],
      // No ports: only the relay reaches Redis, on the compose network.
      volumes: ['redis-data:/data'],
      healthcheck: { test: ['CMD', 'redis-cli', 'ping'], interval: '10s', timeout: '3s', start_period: '5s', retries: 5 },
      restart: 'unless-stopped',
    };
    volumes['redis-data'] = {};
  }
  return { services, volumes };
}

export function composeYaml(options: DockerOptions): string {
  return '# agentchat relay, written by `agentchat deploy --provider docker`. Run: docker compose up -d --build\n' + stringify(compose(options), YAML_OUT);
}
