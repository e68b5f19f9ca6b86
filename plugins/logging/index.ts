/**
 * logging: one structured JSON line per lifecycle event on the relay's logger
 * (stderr by default). Never a line per message unless `logMessages` is on, and
 * refusals are throttled per session so a flood cannot flood the log too.
 */
import type { ErrorFrame } from '../../protocol/messages.js';
import type { Plugin, Session } from '../../kernel/types.js';
import { sessionKeys } from '../identity/index.js';
import { logStoreOutages } from './store-outage.js';

/** Refusal lines per session per window; the rest are counted, then summarized. */
const REFUSALS_LOGGED_PER_WINDOW = 5;
/** Refusal lines per window relay-wide: many sessions refused at once cost a bounded log too. */
const RELAY_REFUSALS_LOGGED_PER_WINDOW = 200;
/** Longest client-influenced text in a log field; JSON escaping already keeps it on one line. */
const MAX_LOGGED_TEXT = 300;

const clip = (text: string): string => (text.length > MAX_LOGGED_TEXT ? text.slice(0, MAX_LOGGED_TEXT) + '…' : text);

export interface LoggingOptions {
  /** Log every delivered message with its content (default off: never a line per message). */
  logMessages?: boolean;
}

export function logging(defaults: LoggingOptions = {}): Plugin<LoggingOptions> {
  return {
    name: 'logging',
    setup(relay, options) {
      const keys = sessionKeys(relay);
      const log = relay.logger;
      const who = (s: Session) => ({ session: s.id, agent: s.agentId, name: s.name, ip: s.remoteAddress });
      const throttle = new WeakMap<Session, { windowStart: number; logged: number; suppressed: number }>();

      relay.hook('listen', (address) => log.info('start', { ...address, server: relay.config.serverName, plugins: relay.plugins, store: relay.store.location }));
      relay.hook('close', () => log.info('stop', { sessions: relay.sessions.size, ...relay.stats }));
      logStoreOutages(relay.store, log);
      relay.hook('connect', (s) => log.info('connect', who(s)));
      relay.hook('identified', (s) => {
        const key = keys.get(s);
        log.info('identify', { ...who(s), verified: key?.verified ?? false, key: key !== undefined });
      });
      relay.hook('joined', (s, channel) => log.info('join', { ...who(s), channel: channel.name }));
      relay.hook('leave', (s, channel, cause) => log.info('leave', { ...who(s), channel: channel.name, cause }));
      relay.hook('disconnect', (s, code) => {
        const t = throttle.get(s);
        log.info('disconnect', { ...who(s), code, ...(t && t.suppressed > 0 ? { refusals_not_logged: t.suppressed } : {}) });
      });
      relay.hook('channelCreated', (channel, by) =>
        log.info('channel_create', { channel: channel.name, invite_only: channel.inviteOnly, by: by?.agentId ?? null }));
      relay.hook('channelDeleted', (channel) => log.info('channel_delete', { channel: channel.name }));

      const relayWide = { since: 0, logged: 0, suppressed: 0 };
      relay.hook('refused', (s, error: Readonly<ErrorFrame>) => {
        const now = Date.now();
        if (now - relayWide.since > relay.config.floodWindowMs) {
          if (relayWide.suppressed > 0) log.warn('refusals_not_logged', { relay_wide: true, count: relayWide.suppressed });
          relayWide.since = now;
          relayWide.logged = 0;
          relayWide.suppressed = 0;
        }
        let t = throttle.get(s);
        if (!t || now - t.windowStart > relay.config.floodWindowMs) {
          if (t && t.suppressed > 0) log.warn('refusals_not_logged', { ...who(s), count: t.suppressed });
          throttle.set(s, (t = { windowStart: now, logged: 0, suppressed: 0 }));
        }
        if (t.logged >= REFUSALS_LOGGED_PER_WINDOW && error.code !== 'SLOW_CONSUMER') {
          t.suppressed++;
          return;
        }
        if (relayWide.logged >= RELAY_REFUSALS_LOGGED_PER_WINDOW) {
          relayWide.suppressed++;
          return;
        }
        t.logged++;
        relayWide.logged++;
        const event = error.code === 'RATE_LIMITED' ? 'rate_limited' : error.code === 'SLOW_CONSUMER' ? 'slow_consumer' : 'refused';
        log.warn(event, { ...who(s), code: error.code, ref: error.ref === undefined ? undefined : clip(String(error.ref)), message: clip(String(error.message)) });
      });

      if (options.logMessages ?? defaults.logMessages ?? false) {
        relay.hook('delivered', (s, frame) => log.info('message', { ...who(s), to: frame.to, content: frame.content, signed: frame.sig !== undefined }));
      }
    },
  };
}
