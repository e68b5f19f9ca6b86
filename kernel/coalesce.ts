/**
 * Coalesced channel writes (config `coalesceMs`; 0, the default, turns them off). Paced traffic on a
 * busy channel costs one socket write per delivery, each message being published in its own loop
 * turn. A channel that published within the last `coalesceMs` is busy: its next frames are held, in
 * order, and published together when the budget runs out, so uWS writes them to each member in one
 * write. The first frame after a quiet spell goes at once: quiet channels keep today's latency, and
 * DMs never come here. A held frame waits at most `coalesceMs`.
 *
 * Bounded: a channel holding HELD_BYTES_MAX is flushed at once, and its held bytes count against
 * each member's slow-consumer bound (SlowConsumerWatch.checkMembers). Membership changes flush
 * first (Membership, Outbox.unsubscribe), so a frame routed before a JOIN never reaches the joiner
 * live (it gets it from history) and one routed before a LEAVE reaches the leaver before LEFT.
 */
import type { ChannelState } from './channels.js';

/** Bytes one channel may hold before it is flushed regardless of the budget. */
export const HELD_BYTES_MAX = 64 * 1024;

export class Coalescer {
  private readonly holding = new Set<ChannelState>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly budgetMs: number,
    /** Publish one frame now (uWS batches a turn's publishes per socket). */
    private readonly publishNow: (channel: ChannelState, text: string) => void,
  ) {}

  publish(channel: ChannelState, text: string): void {
    const held = channel.held;
    if (held !== null) {
      held.push(text);
      channel.heldBytes += Buffer.byteLength(text);
      if (channel.heldBytes >= HELD_BYTES_MAX) this.flush(channel);
      return;
    }
    const now = performance.now();
    if (now - channel.publishedAt >= this.budgetMs) {
      channel.publishedAt = now;
      this.publishNow(channel, text);
      return;
    }
    channel.held = [text];
    channel.heldBytes = Buffer.byteLength(text);
    this.holding.add(channel);
    // One timer for every channel holding: armed by the first, so none waits past the budget.
    this.timer ??= setTimeout(this.flushAll, this.budgetMs);
  }

  /** Publish what `channel` holds, in order. */
  flush(channel: ChannelState): void {
    const held = this.take(channel);
    if (held === null) return;
    for (let i = 0; i < held.length; i++) this.publishNow(channel, held[i]);
  }

  /** What `channel` holds, in order, now no longer held: the caller publishes it. */
  take(channel: ChannelState): string[] | null {
    const held = channel.held;
    if (held === null) return null;
    channel.held = null;
    channel.heldBytes = 0;
    this.holding.delete(channel);
    channel.publishedAt = performance.now();
    return held;
  }

  private readonly flushAll = (): void => {
    this.timer = null;
    for (const channel of this.holding) this.flush(channel);
  };

  /** Shutting down: publish what is held, arm nothing more. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.flushAll();
  }
}
