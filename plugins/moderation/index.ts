/**
 * moderation: kick, ban and mute by agent id, key or address (CIDR), with a reason and
 * an optional expiry, ordered by operators through signed ADMIN frames from admin
 * keys; bans and mutes kept in the store (namespace 'moderation'), restored at start
 * and expired on schedule; and the optional gates of a public relay. Every action is
 * logged and counted (agentchat_moderation_* in /metrics).
 */
import { CloseCode, ErrorCode } from '../../protocol/errors.js';
import type { ModerationRule } from '../../protocol/moderation.js';
import { RelayError, type Plugin, type RelayApi, type Session } from '../../kernel/types.js';
import type { StoredValue } from '../../store/types.js';
import { behind, committed } from '../committed.js';
import { sessionKeys } from '../identity/index.js';
import { adminKeySet, handleAdminFrames, type Target } from './admin.js';
import { moderationCounts } from './counts.js';
import { Enforcer, shown, terms } from './enforce.js';
import { installGates } from './gates.js';
import { ruleKey, RuleBook, type RuleAction } from './rules.js';

export { moderationCounts, type ModerationCounts } from './counts.js';

export interface ModerationOptions {
  /** Ed25519 public keys (SPKI PEM or base64) whose verified sessions may send ADMIN frames (serve --admin-key). */
  adminKeys?: readonly string[];
  /** Bans and mutes kept at most (default 10,000): past it a new one is LIMIT_EXCEEDED. */
  maxRules?: number;
  /** How often expired bans and mutes are removed (default 1 s). */
  sweepMs?: number;
  /** Only agents that proved a key may create channels (default off). */
  verifiedOnlyChannels?: boolean;
  /** Only agents that proved a key may send DMs (default off). */
  verifiedOnlyDms?: boolean;
  /** Keys first seen less than this long ago, and agents without a proven key, may read but not write (default 0: off). */
  minKeyAgeMs?: number;
  /** The clock bans and mutes expire by (default Date.now; tests move it instead of waiting). */
  now?: () => number;
}

/** A rule as the store keeps it: the same fields, as a JSON record. */
type StoredRule = ModerationRule & { [field: string]: StoredValue };
const stored = (rule: ModerationRule): StoredValue => JSON.parse(JSON.stringify(rule)) as StoredValue;

const DEFAULTS = { now: Date.now, adminKeys: [] as readonly string[], maxRules: 10_000, sweepMs: 1_000, verifiedOnlyChannels: false, verifiedOnlyDms: false, minKeyAgeMs: 0 };

export function moderation(defaults: ModerationOptions = {}): Plugin<ModerationOptions> {
  return {
    name: 'moderation',
    async setup(relay: RelayApi, setupOptions: ModerationOptions) {
      const options = { ...DEFAULTS, ...defaults, ...setupOptions };
      for (const key of ['maxRules', 'sweepMs', 'minKeyAgeMs'] as const) {
        const value = options[key];
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RangeError(`moderation ${key} must be a non-negative number, got ${String(value)}`);
      }
      const adminKeys = adminKeySet(options.adminKeys);
      const clock = options.now;
      const keys = sessionKeys(relay);
      const counts = moderationCounts(relay);
      const book = new RuleBook();
      const store = relay.store.namespace('moderation');
      const isAdmin = (session: Session) => {
        const key = keys.get(session);
        return key !== undefined && key.verified && adminKeys.has(key.pubkey);
      };
      const enforcer = new Enforcer(relay, book, keys, counts, isAdmin, clock);
      const recount = () => {
        counts.active.ban = book.count('ban');
        counts.active.mute = book.count('mute');
      };

      // Restored before the relay listens: a ban holds from the first connection after a restart.
      const now = clock();
      for (const [key, rule] of await store.entries<StoredRule>('rule:')) {
        if (rule.expires !== null && rule.expires <= now) {
          behind(store.delete(key), `the expired ${rule.action} of ${shown(rule)}`, relay.logger);
          continue;
        }
        try {
          book.set(rule);
        } catch (err) {
          // One unreadable record must not keep the relay (and every other ban) down.
          relay.logger.error('moderation_rule_unreadable', { key, error: err instanceof Error ? err.message : String(err) });
        }
      }
      recount();
      enforcer.install();

      const log = (action: string, target: Target, fields: Record<string, unknown>, admin: Session | null) =>
        relay.logger.info('moderation', { action, kind: target.kind, target: target.kind === 'key' ? target.agentId : target.value, ...fields, by: admin?.agentId ?? null });

      const keep = async (action: RuleAction, target: Target, reason: string | null, expires: number | null, admin: Session): Promise<ModerationRule> => {
        const existing = book.get(action, target.kind, target.value);
        if (existing === undefined && book.size >= options.maxRules) {
          throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `this relay keeps ${options.maxRules} bans and mutes, the limit; lift some first (agentchat admin bans lists them)`);
        }
        const rule: ModerationRule = {
          action, kind: target.kind, value: target.value, ...(target.agentId === undefined ? {} : { agent_id: target.agentId }),
          reason, expires, by: admin.agentId!, at: clock(),
        };
        // Committed, then in force, then acknowledged: a ban the operator was told of survives a crash.
        await committed(store.put(ruleKey(action, target.kind, target.value), stored(rule)), `the ${action} of ${shown(rule)}`, relay.logger);
        book.set(rule);
        recount();
        return rule;
      };

      const lift = async (action: RuleAction, target: Target): Promise<ModerationRule> => {
        const rule = book.get(action, target.kind, target.value);
        if (rule === undefined) {
          throw new RelayError('RULE_NOT_FOUND', `there is no ${action} on ${target.kind} ${target.kind === 'key' ? `of ${target.agentId}` : target.value}; agentchat admin bans lists them`);
        }
        await committed(store.delete(ruleKey(action, target.kind, target.value)), `lifting the ${action} of ${shown(rule)}`, relay.logger);
        book.delete(action, target.kind, target.value);
        recount();
        return rule;
      };

      handleAdminFrames(relay, keys, adminKeys, clock, {
        kick(target, reason, admin) {
          const sessions = enforcer.close(enforcer.covers(target.kind, target.value), { type: 'KICKED', reason }, CloseCode.KICKED, 'kicked');
          counts.actions.kick++;
          log('kick', target, { reason, sessions }, admin);
          return { sessions };
        },
        async ban(target, reason, expires, admin) {
          const rule = await keep('ban', target, reason, expires, admin);
          const sessions = enforcer.closeBanned(rule);
          counts.actions.ban++;
          log('ban', target, { reason, expires, sessions }, admin);
          return { sessions };
        },
        async unban(target, admin) {
          await lift('ban', target);
          counts.actions.unban++;
          log('unban', target, {}, admin);
          return { sessions: 0 };
        },
        async mute(target, reason, expires, admin) {
          const rule = await keep('mute', target, reason, expires, admin);
          enforcer.refreshMutes();
          const covers = enforcer.covers(target.kind, target.value);
          let sessions = 0;
          for (const s of relay.sessions.values()) if (s.agentId !== null && covers(s) && !isAdmin(s)) sessions++;
          counts.actions.mute++;
          log('mute', target, { reason, expires, sessions, terms: terms(rule) }, admin);
          return { sessions };
        },
        async unmute(target, admin) {
          await lift('mute', target);
          enforcer.refreshMutes();
          counts.actions.unmute++;
          log('unmute', target, {}, admin);
          return { sessions: 0 };
        },
        list: () => book.list(clock()),
      });

      installGates(relay, options, keys, counts);

      // In a cluster an operator may act on any relay: a ban or mute made elsewhere holds here at once.
      relay.store.watch?.('moderation', (key, value) => {
        if (!key.startsWith('rule:')) return;
        if (value !== undefined) {
          const rule = value as unknown as ModerationRule;
          try {
            book.set(rule);
          } catch (err) {
            relay.logger.error('moderation_rule_unreadable', { key, error: err instanceof Error ? err.message : String(err) });
            return;
          }
          recount();
          if (rule.action === 'ban') enforcer.closeBanned(rule);
          else enforcer.refreshMutes();
          return;
        }
        const lifted = book.list(clock()).find((rule) => rule.key === key);
        if (lifted === undefined) return;
        book.delete(lifted.action, lifted.kind, lifted.value);
        recount();
        if (lifted.action === 'mute') enforcer.refreshMutes();
      });

      relay.every(Math.max(10, options.sweepMs), () => {
        const at = clock();
        enforcer.sweep(at);
        const gone = book.expire(at);
        if (gone.length === 0) return;
        recount();
        for (const rule of gone) {
          behind(store.delete(ruleKey(rule.action, rule.kind, rule.value)), `the expired ${rule.action} of ${shown(rule)}`, relay.logger);
          counts.actions.expire++;
          relay.logger.info('moderation', { action: 'expire', rule: rule.action, kind: rule.kind, target: rule.kind === 'key' ? rule.agent_id : rule.value, by: rule.by });
        }
        if (gone.some((r) => r.action === 'mute')) enforcer.refreshMutes();
      });
    },
  };
}
