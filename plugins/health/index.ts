/**
 * health: HTTP on the relay's own port for orchestrators and directories.
 * GET /healthz: live (the event loop answers). GET /readyz: ready to serve: the store
 * (and, in a cluster, Redis) is healthy; 503 with the reason otherwise. GET / with
 * `Accept: application/json`: the relay information document (in the spirit of nostr's
 * NIP-11): name, version, the limits a client must respect, public URLs, extensions.
 */
import pkg from '../../package.json' with { type: 'json' };
import type { HttpAnswer, Plugin, RelayApi } from '../../kernel/types.js';
import { htmlAtRoot, prefersHtml } from './negotiate.js';

export { htmlAtRoot, prefersHtml, type HtmlAtRoot } from './negotiate.js';

export interface HealthOptions {
  /** URLs clients reach this relay by, for the information document. */
  publicUrls?: readonly string[];
  /** Extra readiness checks: each returns null when healthy, else why not. */
  checks?: ReadonlyArray<() => string | null>;
}

/** The protocol extensions this relay speaks beyond the 0.3.x core (docs/PROTOCOL.md). */
export const EXTENSIONS = [
  'verify-url', 'key-registry', 'long-id', 'session-displaced', 'replay-refused', 'msg-id', 'join-since', 'join-history',
  'whois', 'invited', 'list-proposals', 'proposal-sig-json', 'async-policy', 'error-codes-open', 'moderation',
] as const;

const json = (status: number, body: unknown): HttpAnswer => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) + '\n' });

export function health(defaults: HealthOptions = {}): Plugin<HealthOptions> {
  return {
    name: 'health',
    setup(relay: RelayApi, setupOptions: HealthOptions) {
      const options = { ...defaults, ...setupOptions };
      const notReady = (): string | null => {
        const store = relay.store.health();
        if (store !== null) return `store (${relay.store.kind}): ${store}`;
        for (const check of options.checks ?? []) {
          const why = check();
          if (why !== null) return why;
        }
        return null;
      };
      relay.route('/healthz', () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok\n' }));
      relay.route('/readyz', () => {
        const why = notReady();
        return why === null ? json(200, { ready: true }) : json(503, { ready: false, reason: why });
      });
      const html = htmlAtRoot(relay);
      relay.route('/', (request) => {
        // A browser asking for a page gets one when a plugin (web) serves it; everything else answers as without it.
        if (html.page !== null && prefersHtml(request.headers.accept)) return html.page(request);
        if (!(request.headers.accept ?? '').includes('application/json')) {
          return { status: 426, headers: { 'content-type': 'text/plain' }, body: 'agentchat relay: connect with a WebSocket client (GET / with Accept: application/json describes it)\n' };
        }
        const c = relay.config;
        return json(200, {
          name: c.serverName,
          software: 'agentchat',
          version: pkg.version,
          // Which process answered: under `serve --workers` several share the port.
          pid: process.pid,
          public_urls: options.publicUrls ?? [],
          limits: {
            max_payload_bytes: c.maxPayloadBytes,
            max_content_chars: c.maxContentChars,
            max_channels_per_agent: c.maxChannelsPerAgent,
            rate_msg: { burst: c.rateMsg.burst, per_sec: c.rateMsg.perSec },
            rate_other: { burst: c.rateOther.burst, per_sec: c.rateOther.perSec },
            idle_timeout_sec: c.idleTimeoutSec,
          },
          plugins: relay.plugins,
          extensions: EXTENSIONS,
        });
      });
    },
  };
}
