/**
 * The proposal records, indexed by id and by agent id (persistent ids survive
 * reconnects). Expiry is applied on every read; finished proposals are reclaimed
 * after a retention period, on read and by `sweep`, so memory stays bounded.
 */
import { randomBytes } from 'node:crypto';
import type { ProposalRecord, ProposalStep } from '../../protocol/messages.js';
import { OPEN_PROPOSAL_STATUSES, type ProposalRole, type ProposalStatusName } from '../../protocol/proposals.js';

/** A record as the store keeps it: `updated_at` is always set (created_at until the first step); at most two steps. */
export type StoredProposal = ProposalRecord & {
  updated_at: number;
  steps: ProposalStep[];
  /** The parties' keys (SPKI PEM) when the proposal was made: steps are authorized by key, not only by id. */
  parties: { from: string; to: string };
};

export interface StoreLimits {
  /** Open (pending or accepted) proposals one agent may have as proposer. */
  maxOpenPerAgent: number;
  /** Open proposals one agent may have as recipient (default: no bound of its own). */
  maxOpenPerRecipient?: number;
  /** Bytes of records (as JSON) the relay keeps in all; finished ones are evicted first (default: no bound of its own). */
  maxBytes?: number;
  /** Records the relay keeps in all; finished ones are evicted first. */
  maxProposals: number;
  /** How long a finished or expired proposal stays readable. */
  retentionMs: number;
}

/** Why a new proposal cannot be stored. */
export type NoRoom = 'agent_open_limit' | 'recipient_open_limit' | 'relay_limit';

export const isOpen = (status: ProposalStatusName): boolean => OPEN_PROPOSAL_STATUSES.has(status);

/** `prop_<base36 ms>_<8 hex>` (PROTOCOL.md). */
export function newProposalId(now: number): string {
  return `prop_${now.toString(36)}_${randomBytes(4).toString('hex')}`;
}

export class ProposalStore {
  private readonly records = new Map<string, StoredProposal>();
  /** Ids of finished proposals in the order they finished: the eviction order at the relay limit. */
  private readonly finished = new Set<string>();
  private readonly byAgent = new Map<string, Set<string>>();
  private readonly openByProposer = new Map<string, number>();
  private readonly openByRecipient = new Map<string, number>();
  /** Each record's size as JSON, steps included. */
  private readonly sizes = new Map<string, number>();
  /** Sum of `sizes`. */
  bytes = 0;

  constructor(
    private readonly limits: StoreLimits,
    /** Told of every record removed (reclaimed or evicted), so the durable copy goes too. */
    private readonly removed: (id: string) => void = () => {},
  ) {}

  /** A record brought back from the durable store at start. */
  restore(record: StoredProposal): void {
    this.add(record);
    if (!isOpen(record.status)) this.finish(record);
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * Null when `proposer` may store one more proposal (to `recipient`, of `bytes`);
   * evicts the oldest finished ones at the relay's count or byte limit.
   */
  roomFor(proposer: string, now: number, recipient?: string, bytes = 0): NoRoom | null {
    if (this.full(this.openByProposer, proposer, this.limits.maxOpenPerAgent, now)) return 'agent_open_limit';
    if (recipient !== undefined && this.full(this.openByRecipient, recipient, this.limits.maxOpenPerRecipient ?? Infinity, now)) return 'recipient_open_limit';
    const maxBytes = this.limits.maxBytes ?? Infinity;
    while (this.records.size >= this.limits.maxProposals || this.bytes + bytes > maxBytes) {
      const oldest = this.finished.values().next();
      if (oldest.done) return 'relay_limit';
      this.remove(oldest.value);
    }
    return null;
  }

  /** Whether `agentId` is at `max` open proposals in `counts`, after applying expiry to its records (counting is a read too). */
  private full(counts: Map<string, number>, agentId: string, max: number, now: number): boolean {
    if ((counts.get(agentId) ?? 0) < max) return false;
    for (const id of [...(this.byAgent.get(agentId) ?? [])]) this.get(id, now);
    return (counts.get(agentId) ?? 0) >= max;
  }

  add(record: StoredProposal): void {
    this.records.set(record.id, record);
    this.index(record.from, record.id);
    this.index(record.to, record.id);
    this.countOpen(record, +1);
    this.grow(record.id, sizeOf(record));
  }

  /** Record a signed step on a record (counted in the byte budget). */
  addStep(record: StoredProposal, step: ProposalStep): void {
    record.steps.push(step);
    this.grow(record.id, sizeOf(step));
  }

  /** The proposal with expiry applied, or undefined when unknown or reclaimed. */
  get(id: string, now: number): StoredProposal | undefined {
    const record = this.records.get(id);
    if (record === undefined || this.reclaim(record, now)) return undefined;
    return record;
  }

  /** Move an open proposal to `status` (the caller checked the transition is allowed). */
  transition(record: StoredProposal, status: ProposalStatusName, at: number): void {
    record.status = status;
    record.updated_at = at;
    if (!isOpen(status)) this.finish(record);
  }

  /** An agent's proposals, newest first, expiry applied. */
  list(agentId: string, now: number, filter: { status?: ProposalStatusName; role?: ProposalRole }): StoredProposal[] {
    const ids = this.byAgent.get(agentId);
    if (ids === undefined) return [];
    const role = filter.role ?? 'any';
    const out: StoredProposal[] = [];
    for (const id of [...ids]) {
      const record = this.get(id, now);
      if (record === undefined) continue;
      if (filter.status !== undefined && record.status !== filter.status) continue;
      if (role === 'proposer' && record.from !== agentId) continue;
      if (role === 'recipient' && record.to !== agentId) continue;
      out.push(record);
    }
    // Ids are indexed in creation order.
    return out.reverse();
  }

  /** Expire what is due and reclaim what is past retention. */
  sweep(now: number): void {
    for (const record of [...this.records.values()]) this.reclaim(record, now);
  }

  /** Applies expiry; removes and returns true when the record is past retention. */
  private reclaim(record: StoredProposal, now: number): boolean {
    if (record.status === 'pending' && record.expires !== null && now > record.expires) {
      this.transition(record, 'expired', record.expires);
    }
    if (isOpen(record.status) || now - record.updated_at < this.limits.retentionMs) return false;
    this.remove(record.id);
    return true;
  }

  private finish(record: StoredProposal): void {
    this.countOpen(record, -1);
    this.finished.add(record.id);
  }

  /** A newer copy of a record that another relay of the cluster wrote (undefined: it reclaimed it). */
  replace(id: string, record: StoredProposal | undefined): void {
    this.remove(id, false);
    if (record !== undefined) this.restore(record);
  }

  private remove(id: string, tell = true): void {
    const record = this.records.get(id);
    if (record === undefined) return;
    this.records.delete(id);
    if (this.finished.delete(id) === false) this.countOpen(record, -1);
    this.bytes -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
    this.unindex(record.from, id);
    this.unindex(record.to, id);
    if (tell) this.removed(id);
  }

  private index(agentId: string, id: string): void {
    const ids = this.byAgent.get(agentId);
    if (ids === undefined) this.byAgent.set(agentId, new Set([id]));
    else ids.add(id);
  }

  private unindex(agentId: string, id: string): void {
    const ids = this.byAgent.get(agentId);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.byAgent.delete(agentId);
  }

  private grow(id: string, bytes: number): void {
    this.sizes.set(id, (this.sizes.get(id) ?? 0) + bytes);
    this.bytes += bytes;
  }

  private countOpen(record: StoredProposal, delta: number): void {
    bump(this.openByProposer, record.from, delta);
    bump(this.openByRecipient, record.to, delta);
  }
}

function bump(counts: Map<string, number>, agentId: string, delta: number): void {
  const count = (counts.get(agentId) ?? 0) + delta;
  if (count > 0) counts.set(agentId, count);
  else counts.delete(agentId);
}

/** What a record or step weighs in the byte budget: its JSON, as PROPOSALS sends it. */
export function sizeOf(value: object): number {
  return Buffer.byteLength(JSON.stringify(value));
}
