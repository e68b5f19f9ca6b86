/**
 * Presence on large channels. Each JOIN or LEAVE tells every member; on a channel of
 * N members a client toggling its membership makes N frames per toggle. Past
 * `presenceBatchAbove` members the changes are gathered and published once per
 * `presenceBatchMs`: one AGENT_JOINED and one AGENT_LEFT per channel per batch, each
 * naming every agent in `agents` (extension; `agent` is the first, for 0.3.x clients),
 * and a join and a leave of the same agent within a batch cancel out.
 */
import type { ChannelState } from './channels.js';
import type { OutFrame } from './outbox.js';

interface Change {
  kind: 'joined' | 'left';
  name: string | null;
}

export class PresenceBatcher {
  private readonly pending = new Map<ChannelState, Map<string, Change>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly above: number,
    private readonly everyMs: number,
    private readonly publish: (channel: ChannelState, frame: OutFrame) => void,
    /** Whether the channel still exists when the batch goes out. */
    private readonly alive: (channel: ChannelState) => boolean,
  ) {}

  /** Tell the channel now, or in the next batch when it is large. */
  changed(channel: ChannelState, kind: 'joined' | 'left', agentId: string, name: string | null): void {
    if (channel.members.size <= this.above && !this.pending.has(channel)) {
      this.publish(channel, { type: kind === 'joined' ? 'AGENT_JOINED' : 'AGENT_LEFT', channel: channel.name, agent: agentId, name });
      return;
    }
    let changes = this.pending.get(channel);
    if (changes === undefined) this.pending.set(channel, (changes = new Map()));
    const earlier = changes.get(agentId);
    if (earlier !== undefined && earlier.kind !== kind) changes.delete(agentId);
    else changes.set(agentId, { kind, name });
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.everyMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const [channel, changes] of this.pending) {
      if (!this.alive(channel) || changes.size === 0) continue;
      for (const kind of ['joined', 'left'] as const) {
        const agents = [...changes].filter(([, c]) => c.kind === kind);
        if (agents.length === 0) continue;
        const [first, change] = agents[0];
        this.publish(channel, {
          type: kind === 'joined' ? 'AGENT_JOINED' : 'AGENT_LEFT', channel: channel.name, agent: first, name: change.name,
          agents: agents.map(([id]) => id),
        });
      }
    }
    this.pending.clear();
  }

  /** Shutting down: nothing more is told. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
  }
}
