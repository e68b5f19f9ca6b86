/**
 * limits: what one address may hold and how fast it may come back. Counted per
 * address (IPv6 per /64; behind a trusted proxy, the X-Forwarded-For client):
 * concurrent connections and new connections per second, refused at the upgrade with
 * HTTP 429 before any session exists, and identified sessions, refused at IDENTIFY.
 * No address is exempt unless it is configured as a trusted proxy.
 */
import { ErrorCode } from '../../protocol/errors.js';
import { RelayError, type Plugin, type RelayApi, type Session } from '../../kernel/types.js';
import { addressGroup, normalizeAddress, TrustedProxies } from './address.js';
import { RefusalLog } from './refusal-log.js';

export interface LimitsOptions {
  /** Open connections per address, identified or not (default 32; 0: no limit). */
  maxConnsPerIp?: number;
  /** New connections per second per address, with a burst of twice as many (default 10; 0: no limit). */
  connRatePerIp?: number;
  /** Identified sessions per address (default 16; 0: no limit). */
  maxSessionsPerIp?: number;
  /** Proxies (CIDRs or addresses) whose X-Forwarded-For names the client (default none). */
  trustProxy?: readonly string[];
  /** How often a refused address gets a log line (default 60 s). */
  logIntervalMs?: number;
}

export const LIMITS_DEFAULTS = { maxConnsPerIp: 32, connRatePerIp: 10, maxSessionsPerIp: 16, logIntervalMs: 60_000 } as const;

/** What the plugin keeps per address group while it has connections or an unfilled bucket. */
interface AddressState {
  conns: number;
  sessions: number;
  tokens: number;
  refilledAt: number;
}

/** Per session: its address state, and whether it was counted as identified. */
interface Counted {
  group: string;
  state: AddressState;
  identified: boolean;
}

export function limits(defaults: LimitsOptions = {}): Plugin<LimitsOptions> {
  return {
    name: 'limits',
    setup(relay: RelayApi, setupOptions: LimitsOptions) {
      const options = { ...LIMITS_DEFAULTS, ...defaults, ...setupOptions };
      for (const key of ['maxConnsPerIp', 'connRatePerIp', 'maxSessionsPerIp', 'logIntervalMs'] as const) {
        const value = options[key];
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RangeError(`limits ${key} must be a non-negative number, got ${String(value)}`);
      }
      const { maxConnsPerIp, connRatePerIp, maxSessionsPerIp, logIntervalMs } = options;
      const burst = connRatePerIp * 2;
      const proxies = new TrustedProxies(options.trustProxy ?? []);
      const log = new RefusalLog(relay, relay.logger);
      const addresses = new Map<string, AddressState>();
      const counted = relay.sessionSlot<Counted>('limits.address');

      const stateOf = (group: string, now: number): AddressState => {
        let state = addresses.get(group);
        if (state === undefined) addresses.set(group, (state = { conns: 0, sessions: 0, tokens: burst, refilledAt: now }));
        return state;
      };
      /** At the upgrade the kernel counts the refusal by its reason; later ones are counted here. */
      const refuse = (group: string, reason: string, code: string, message: string, extras: Record<string, unknown> = {}, atUpgrade = true) => {
        log.note(group, reason, message, !atUpgrade);
        return new RelayError(code, message, { reason, status: 429, ...extras });
      };

      relay.hook('upgrade', (request) => {
        if (proxies.size > 0) request.clientAddress = proxies.clientOf(request.remoteAddress, request.headers['x-forwarded-for']);
        else request.clientAddress = normalizeAddress(request.remoteAddress);
        const group = addressGroup(request.clientAddress);
        const now = Date.now();
        const state = stateOf(group, now);
        if (maxConnsPerIp > 0 && state.conns >= maxConnsPerIp) {
          return refuse(group, 'conns_per_ip', ErrorCode.LIMIT_EXCEEDED, `your address has ${state.conns} open connections, the limit; close one first`);
        }
        if (connRatePerIp > 0) {
          state.tokens = Math.min(burst, state.tokens + ((now - state.refilledAt) * connRatePerIp) / 1000);
          state.refilledAt = now;
          if (state.tokens < 1) {
            const wait = Math.ceil(((1 - state.tokens) * 1000) / connRatePerIp);
            return refuse(group, 'conn_rate_per_ip', ErrorCode.RATE_LIMITED, `your address opens connections too fast (${connRatePerIp}/s); retry after ${wait} ms`, { retry_after_ms: wait });
          }
          state.tokens -= 1;
        }
      });

      // Counted when the socket opens; the check is repeated here for upgrades that passed together.
      relay.hook('connect', (session) => {
        const group = addressGroup(session.remoteAddress);
        const state = stateOf(group, Date.now());
        if (maxConnsPerIp > 0 && state.conns >= maxConnsPerIp) {
          return refuse(group, 'conns_per_ip', ErrorCode.LIMIT_EXCEEDED, `your address has ${state.conns} open connections, the limit; close one first`, {}, false);
        }
        state.conns++;
        counted.set(session, { group, state, identified: false });
      });

      relay.hook('identify', (session) => {
        const entry = counted.get(session);
        if (entry === undefined || maxSessionsPerIp === 0 || entry.state.sessions < maxSessionsPerIp) return;
        return refuse(entry.group, 'sessions_per_ip', ErrorCode.LIMIT_EXCEEDED,
          `your address has ${entry.state.sessions} identified sessions, the limit; close one first`, {}, false);
      });

      relay.hook('identified', (session) => {
        const entry = counted.get(session);
        if (entry === undefined || entry.identified) return;
        entry.identified = true;
        entry.state.sessions++;
      });

      relay.hook('disconnect', (session: Session) => {
        const entry = counted.get(session);
        if (entry === undefined) return;
        counted.delete(session);
        entry.state.conns--;
        if (entry.identified) entry.state.sessions--;
      });

      // Forget addresses with nothing open and a full bucket: the table holds only active ones.
      relay.every(Math.min(10_000, logIntervalMs || 10_000), () => {
        const now = Date.now();
        for (const [group, state] of addresses) {
          const full = connRatePerIp === 0 || state.tokens + ((now - state.refilledAt) * connRatePerIp) / 1000 >= burst;
          if (state.conns === 0 && full) addresses.delete(group);
        }
      });
      if (logIntervalMs > 0) relay.every(logIntervalMs, () => log.flush(logIntervalMs));
    },
  };
}
