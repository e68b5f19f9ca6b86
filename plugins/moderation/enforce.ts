/**
 * Enforcing the lists: a banned address is refused at the upgrade (HTTP 403), a banned
 * agent id or key at IDENTIFY (ERROR BANNED, close 4003); a session a new ban covers is
 * told (BANNED) and closed; a muted session's MSGs are refused (ERROR MUTED) and it is
 * told when the mute begins and ends. Sessions of admin keys are never covered, so an
 * operator cannot lock themselves out by key or by address once connected.
 */
import { CloseCode, ErrorCode } from '../../protocol/errors.js';
import type { ModerationRule, TargetKind } from '../../protocol/moderation.js';
import { RelayError, type RelayApi, type Session, type SessionSlot } from '../../kernel/types.js';
import type { SessionKey } from '../identity/index.js';
import { CidrSet, parseCidr } from './cidr.js';
import type { ModerationCounts } from './counts.js';
import { ruleKey, type RuleBook, type Subject } from './rules.js';

/** A refused banned address is logged at most once per rule per this long (a banned client may hammer). */
const UPGRADE_LOG_INTERVAL_MS = 60_000;

/** "until <ISO time>: <reason>", for the messages an affected agent reads. */
export function terms(rule: Pick<ModerationRule, 'expires' | 'reason'>): string {
  const until = rule.expires === null ? '' : ` until ${new Date(rule.expires).toISOString()}`;
  return `${until}${rule.reason ? `: ${rule.reason}` : ''}`;
}

/** How a rule names its target in logs: a key by its agent id, never the whole PEM. */
export const shown = (rule: Pick<ModerationRule, 'kind' | 'value' | 'agent_id'>): string => (rule.kind === 'key' ? `key of ${rule.agent_id ?? '?'}` : rule.value);

export class Enforcer {
  private readonly mutedSlot: SessionSlot<ModerationRule>;
  private readonly upgradeLogged = new Map<string, number>();

  constructor(
    private readonly relay: RelayApi,
    private readonly book: RuleBook,
    private readonly keys: SessionSlot<SessionKey>,
    private readonly counts: ModerationCounts,
    private readonly isAdmin: (session: Session) => boolean,
    /** The clock rules expire by. */
    private readonly now: () => number,
  ) {
    this.mutedSlot = relay.sessionSlot<ModerationRule>('moderation.muted');
  }

  subject(session: Session, agentId = session.agentId): Subject {
    return { agentId, pubkey: this.keys.get(session)?.pubkey, address: session.remoteAddress };
  }

  /** Hook every point the lists are enforced at. */
  install(): void {
    const { relay, book, counts } = this;
    relay.hook('upgrade', (request) => {
      const now = this.now();
      const rule = book.bannedAddress(request.clientAddress, now);
      if (rule === undefined) return;
      counts.refusals.ban++;
      this.logUpgrade(rule, request.clientAddress, now);
      return new RelayError(ErrorCode.BANNED, `this address is banned from this relay${terms(rule)}`, { status: 403, reason: 'banned' });
    });

    relay.hook('identify', (session, identity) => {
      if (book.count('ban') === 0 || this.isAdmin(session)) return;
      const rule = book.match('ban', this.subject(session, identity.agentId), this.now());
      if (rule === undefined) return;
      counts.refusals.ban++;
      const message = `${rule.kind === 'address' ? 'this address' : rule.kind === 'key' ? 'this key' : identity.agentId} is banned from this relay${terms(rule)}; do not reconnect`;
      // Told and closed here: the refusal the kernel then sends finds the socket closed.
      relay.error(session, ErrorCode.BANNED, message, { expires: rule.expires });
      relay.disconnect(session, CloseCode.BANNED, 'banned');
      return new RelayError(ErrorCode.BANNED, message);
    });

    relay.hook('identified', (session) => {
      if (book.count('mute') === 0 || this.isAdmin(session)) return;
      const rule = book.match('mute', this.subject(session), this.now());
      if (rule === undefined) return;
      this.mutedSlot.set(session, rule);
      relay.send(session, { type: 'MUTED', reason: rule.reason, expires: rule.expires });
    });

    // One slot read per MSG, and only while some mute exists.
    relay.hook('message', (session) => {
      if (book.count('mute') === 0) return;
      const rule = this.mutedSlot.get(session);
      if (rule === undefined || (rule.expires !== null && rule.expires <= this.now())) return;
      counts.refusals.mute++;
      return new RelayError(ErrorCode.MUTED, `you are muted on this relay${terms(rule)}; your message was not relayed`, { expires: rule.expires });
    });
  }

  /** Whether `session` is covered by a target (for kicks, which keep no rule). */
  covers(kind: TargetKind, value: string): (session: Session) => boolean {
    if (kind === 'agent') return (s) => s.agentId === value;
    if (kind === 'key') return (s) => this.keys.get(s)?.pubkey === value;
    const only = new CidrSet();
    only.reset([parseCidr(value)]);
    return (s) => only.has(s.remoteAddress);
  }

  /** Close the sessions `covered` picks (admin sessions excepted), each told first with `frame`; returns how many. */
  close(covered: (session: Session) => boolean, frame: { type: string; [field: string]: unknown }, code: number, why: string): number {
    let closed = 0;
    for (const session of [...this.relay.sessions.values()]) {
      if (!session.open || !covered(session) || this.isAdmin(session)) continue;
      this.relay.send(session, frame);
      this.relay.disconnect(session, code, why);
      closed++;
    }
    return closed;
  }

  /** A new ban: close every live session it covers. */
  closeBanned(rule: ModerationRule): number {
    const now = this.now();
    const covered = (s: Session) => this.book.match('ban', this.subject(s), now) === rule;
    return this.close(covered, { type: 'BANNED', reason: rule.reason, expires: rule.expires }, CloseCode.BANNED, 'banned');
  }

  /**
   * After the mutes changed: mark each identified session with the mute covering it now,
   * telling those newly muted (MUTED) and those no longer muted (UNMUTED). Returns how many are muted.
   */
  refreshMutes(): number {
    const now = this.now();
    let muted = 0;
    for (const session of this.relay.sessions.values()) {
      if (session.agentId === null || !session.open) continue;
      const before = this.mutedSlot.get(session);
      const rule = this.isAdmin(session) ? undefined : this.book.match('mute', this.subject(session), now);
      if (rule !== undefined) muted++;
      if (rule === before) continue;
      if (rule === undefined) {
        this.mutedSlot.delete(session);
        this.relay.send(session, { type: 'UNMUTED' });
      } else {
        this.mutedSlot.set(session, rule);
        // A changed reason or expiry of a mute already in force is news too.
        this.relay.send(session, { type: 'MUTED', reason: rule.reason, expires: rule.expires });
      }
    }
    return muted;
  }

  /** Forget log throttles of rules gone or quiet. */
  sweep(now: number): void {
    for (const [key, at] of this.upgradeLogged) if (at <= now - UPGRADE_LOG_INTERVAL_MS) this.upgradeLogged.delete(key);
  }

  private logUpgrade(rule: ModerationRule, ip: string, now: number): void {
    const key = ruleKey(rule.action, rule.kind, rule.value);
    const last = this.upgradeLogged.get(key);
    if (last !== undefined && now - last < UPGRADE_LOG_INTERVAL_MS) return;
    this.upgradeLogged.set(key, now);
    this.relay.logger.warn('banned_address_refused', { ip, rule: rule.value, note: 'logged once a minute per ban; every refusal is counted in agentchat_moderation_refusals_total' });
  }
}
