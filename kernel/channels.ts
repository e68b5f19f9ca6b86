/** The kernel's channel records: membership for routing, metadata for plugins. */
import { ErrorCode } from '../protocol/errors.js';
import { isChannel } from '../protocol/names.js';
import type { SessionState } from './session.js';
import { RelayError, type Channel, type ChannelCreateOptions, type ChannelTable, type Session } from './types.js';

export class ChannelState implements Channel {
  readonly members = new Map<string, SessionState>();
  emptySince: number | null;
  /** Messages published since the members' buffers were last checked (slow consumers). */
  sinceCheck = 0;
  /** The msg_id of the last MSG routed to this channel (ids are monotonic per channel). */
  lastMsgId = 0;
  /** Coalesced writes (kernel/coalesce.ts): frames held for the next flush, their bytes, the last publish (ms, monotonic). */
  held: string[] | null = null;
  heldBytes = 0;
  publishedAt = -Infinity;
  constructor(
    readonly name: string,
    readonly inviteOnly: boolean,
    readonly builtin: boolean,
    readonly createdBy: string | null,
    readonly createdAt: number,
  ) {
    this.emptySince = createdAt;
  }
}

export interface ChannelEvents {
  created(channel: ChannelState, by: Session | null): void;
  deleted(channel: ChannelState): void;
}

export class Channels implements ChannelTable {
  readonly map = new Map<string, ChannelState>();
  constructor(
    private readonly maxChannels: number,
    private readonly events: ChannelEvents,
  ) {}

  get size(): number {
    return this.map.size;
  }
  get(name: string): ChannelState | undefined {
    return this.map.get(name);
  }
  values(): IterableIterator<ChannelState> {
    return this.map.values();
  }

  create(name: string, options: ChannelCreateOptions = {}): ChannelState {
    if (!isChannel(name)) {
      throw new RelayError(ErrorCode.INVALID_NAME, `invalid channel name ${JSON.stringify(name)}: use '#' followed by 1-31 of A-Z a-z 0-9 _ -`);
    }
    if (this.map.has(name)) throw new RelayError(ErrorCode.CHANNEL_EXISTS, `channel ${name} already exists; JOIN it instead`);
    if (this.map.size >= this.maxChannels) {
      throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `this relay has reached its limit of ${this.maxChannels} channels; use an existing channel`);
    }
    const by = options.createdBy ?? null;
    const channel = new ChannelState(name, options.inviteOnly === true, options.builtin === true, by?.agentId ?? options.restore?.createdBy ?? null, options.restore?.createdAt ?? Date.now());
    if (options.restore) channel.emptySince = Date.now();
    this.map.set(name, channel);
    this.events.created(channel, by);
    return channel;
  }

  resumeMessageIds(name: string, lastMsgId: number): void {
    const channel = this.map.get(name);
    if (channel !== undefined && lastMsgId > channel.lastMsgId) channel.lastMsgId = lastMsgId;
  }

  delete(name: string): boolean {
    const channel = this.map.get(name);
    if (!channel || channel.builtin || channel.members.size > 0) return false;
    this.map.delete(name);
    this.events.deleted(channel);
    return true;
  }
}
