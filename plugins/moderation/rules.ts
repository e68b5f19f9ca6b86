/**
 * The moderation lists: bans and mutes by agent id, key or address, each with a reason
 * and an optional expiry, indexed so a check costs a map lookup (or one BlockList test
 * for addresses). A rule past its expiry never matches, whether or not the sweep that
 * deletes it has run yet.
 */
import { createHash } from 'node:crypto';
import type { ModerationRule, TargetKind } from '../../protocol/moderation.js';
import { CidrSet, parseCidr, type Cidr } from './cidr.js';

export type RuleAction = ModerationRule['action'];

/** What a session is, for matching: its agent id, its key (canonical PEM) and its address. */
export interface Subject {
  agentId: string | null;
  pubkey: string | undefined;
  address: string;
}

/** One list (the bans, or the mutes). */
class RuleList {
  readonly agents = new Map<string, ModerationRule>();
  readonly keys = new Map<string, ModerationRule>();
  /** By CIDR text; `only` tests this one rule's CIDR, to tell which rule covered an address. */
  readonly addresses = new Map<string, { rule: ModerationRule; cidr: Cidr; only: CidrSet }>();
  readonly cidrs = new CidrSet();

  get size(): number {
    return this.agents.size + this.keys.size + this.addresses.size;
  }

  get(kind: TargetKind, value: string): ModerationRule | undefined {
    return kind === 'agent' ? this.agents.get(value) : kind === 'key' ? this.keys.get(value) : this.addresses.get(value)?.rule;
  }

  set(rule: ModerationRule): void {
    if (rule.kind === 'agent') this.agents.set(rule.value, rule);
    else if (rule.kind === 'key') this.keys.set(rule.value, rule);
    else {
      const cidr = parseCidr(rule.value);
      const only = new CidrSet();
      only.reset([cidr]);
      this.addresses.set(rule.value, { rule, cidr, only });
      this.cidrs.reset([...this.addresses.values()].map((a) => a.cidr));
    }
  }

  delete(kind: TargetKind, value: string): ModerationRule | undefined {
    const rule = this.get(kind, value);
    if (rule === undefined) return undefined;
    if (kind === 'agent') this.agents.delete(value);
    else if (kind === 'key') this.keys.delete(value);
    else {
      this.addresses.delete(value);
      this.cidrs.reset([...this.addresses.values()].map((a) => a.cidr));
    }
    return rule;
  }

  /** The rule covering this address, if any. */
  address(address: string, now: number): ModerationRule | undefined {
    if (!this.cidrs.has(address)) return undefined;
    for (const { rule, only } of this.addresses.values()) {
      if (live(rule, now) && only.has(address)) return rule;
    }
    return undefined;
  }

  /** The first live rule covering `subject`: its id, then its key, then its address. */
  match(subject: Subject, now: number): ModerationRule | undefined {
    if (this.size === 0) return undefined;
    const byId = subject.agentId === null ? undefined : this.agents.get(subject.agentId);
    if (byId !== undefined && live(byId, now)) return byId;
    const byKey = subject.pubkey === undefined ? undefined : this.keys.get(subject.pubkey);
    if (byKey !== undefined && live(byKey, now)) return byKey;
    return this.address(subject.address, now);
  }

  *all(): IterableIterator<ModerationRule> {
    yield* this.agents.values();
    yield* this.keys.values();
    for (const { rule } of this.addresses.values()) yield rule;
  }
}

const live = (rule: ModerationRule, now: number): boolean => rule.expires === null || rule.expires > now;

/** The store key of a rule: a key is named by its PEM's SHA-256, so keys stay short. */
export function ruleKey(action: RuleAction, kind: TargetKind, value: string): string {
  const name = kind === 'key' ? createHash('sha256').update(value).digest('hex') : value;
  return `rule:${action}:${kind}:${name}`;
}

export class RuleBook {
  private readonly lists = { ban: new RuleList(), mute: new RuleList() };

  /** Rules kept, bans and mutes together. */
  get size(): number {
    return this.lists.ban.size + this.lists.mute.size;
  }

  count(action: RuleAction): number {
    return this.lists[action].size;
  }

  get(action: RuleAction, kind: TargetKind, value: string): ModerationRule | undefined {
    return this.lists[action].get(kind, value);
  }

  /** Add or replace the rule for its target; returns the one it replaced. */
  set(rule: ModerationRule): ModerationRule | undefined {
    const old = this.lists[rule.action].get(rule.kind, rule.value);
    this.lists[rule.action].set(rule);
    return old;
  }

  delete(action: RuleAction, kind: TargetKind, value: string): ModerationRule | undefined {
    return this.lists[action].delete(kind, value);
  }

  match(action: RuleAction, subject: Subject, now: number): ModerationRule | undefined {
    return this.lists[action].match(subject, now);
  }

  /** The ban covering an address (checked at the upgrade, before any session exists). */
  bannedAddress(address: string, now: number): ModerationRule | undefined {
    const bans = this.lists.ban;
    return bans.addresses.size === 0 ? undefined : bans.address(address, now);
  }

  /** Remove and return every rule whose expiry has come. */
  expire(now: number): ModerationRule[] {
    const gone: ModerationRule[] = [];
    for (const list of [this.lists.ban, this.lists.mute]) {
      for (const rule of [...list.all()]) {
        if (!live(rule, now)) {
          list.delete(rule.kind, rule.value);
          gone.push(rule);
        }
      }
    }
    return gone;
  }

  /** Every live rule, bans first, in store-key order (a stable order to page in). */
  list(now: number): Array<ModerationRule & { key: string }> {
    const out: Array<ModerationRule & { key: string }> = [];
    for (const list of [this.lists.ban, this.lists.mute]) {
      for (const rule of list.all()) if (live(rule, now)) out.push({ ...rule, key: ruleKey(rule.action, rule.kind, rule.value) });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
