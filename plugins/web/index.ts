/**
 * web: a live page on the relay's own port (`serve --web`). GET / with a browser's Accept
 * answers the page (health keeps answering everything else at /); the page's script and
 * stylesheet come from dist/web/, built by esbuild (scripts/build.mjs), read once at setup.
 * GET /web/stats gives the page its numbers (sessions, channels, messages delivered) as
 * JSON: /metrics may need a token the page does not have, and needs none of its detail.
 * The page talks to the relay as any WebSocket client does: it sees what any client sees.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpAnswer, Plugin, RelayApi } from '../../kernel/types.js';
import { htmlAtRoot } from '../health/index.js';

export interface WebOptions {
  /** The built page: index.html, app.js, style.css (default: this package's dist/web). */
  assetsDir?: string;
}

/** The numbers GET /web/stats answers. */
export interface WebStats {
  /** Identified sessions. */
  sessions: number;
  channels: number;
  /** MSG frames written to receivers since the relay started. */
  messages_delivered: number;
  /** Server time, ms since epoch: the page divides by it for a rate. */
  ts: number;
}

const ASSETS = { 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' } as const;

/** The page runs only its own script and styles and talks only to this origin: a message can never become markup or code. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function web(defaults: WebOptions = {}): Plugin<WebOptions> {
  return {
    name: 'web',
    dependencies: ['health'],
    setup(relay: RelayApi, setupOptions: WebOptions) {
      const dir = setupOptions.assetsDir ?? defaults.assetsDir ?? defaultAssetsDir();
      const read = (file: string): string => {
        const path = join(dir, file);
        if (!existsSync(path)) throw new Error(`web: the page's ${file} is not at ${path}: build it with \`npm run build\` (or give the web plugin an assetsDir)`);
        return readFileSync(path, 'utf8');
      };
      const page = read('index.html');
      const answer = (contentType: string, body: string, extra: Record<string, string> = {}): HttpAnswer =>
        ({ status: 200, headers: { 'content-type': contentType, 'cache-control': 'no-cache', ...SECURITY_HEADERS, ...extra }, body });

      htmlAtRoot(relay).page = () => answer('text/html; charset=utf-8', page, { vary: 'Accept' });
      for (const [file, type] of Object.entries(ASSETS)) {
        const body = read(file);
        relay.route(`/web/${file}`, () => answer(type, body));
      }
      relay.route('/web/stats', () => {
        const stats: WebStats = {
          sessions: relay.sessions.identifiedCount,
          channels: relay.channels.size,
          messages_delivered: relay.stats.messagesDelivered,
          ts: Date.now(),
        };
        return answer('application/json', JSON.stringify(stats) + '\n');
      });
    },
  };
}

/** dist/web of the agentchat package this module belongs to, from source (plugins/web) or from a bundle (dist/, dist/chunks/). */
function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'agentchat') return join(dir, 'dist', 'web');
    const parent = dirname(dir);
    if (parent === dir) throw new Error('web: cannot find the agentchat package (and its dist/web) above this module; give the web plugin an assetsDir');
    dir = parent;
  }
}
