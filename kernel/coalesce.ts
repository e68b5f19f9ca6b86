/**
 * Coalesced channel writes (config `coalesceMs`; 0, the default, turns them off). Paced traffic on a
 * busy channel costs one socket write per delivery, each message being published in its own loop
 * turn. A channel that published within the last `coalesceMs` is busy: its next frames are held, in
 * order, and published together when the budget runs out, so uWS writes them to each member in one
 * write. The first frame after a quiet spell goes at once: quiet channels keep today's latency, and
 * DMs never come here. A held frame waits at most `coalesceMs`, counted from when it may have
 * arrived: one read in the turn of a flush may have waited unread behind that flush's writes
 * (~10 ms for 1,000 members), so its hold is shortened by that (to no less than half the budget).
 *
 * Bounded: a channel holding HELD_BYTES_MAX is flushed at once, and its held bytes count against
 * each member's slow-consumer bound (SlowConsumerWatch.checkMembers). Membership changes flush
 * first (Membership, Outbox.unsubscribe), so a frame routed before a JOIN never reaches the joiner
 * live (it gets it from history) and one routed before a LEAVE reaches the leaver before LEFT.
 */
import type { ChannelState } from './channels.js';

/** Bytes one channel may hold before it is flushed regardless of the budget. */
export const HELD_BYTES_MAX = 64 * 1024;

/** The clock and timers the coalescer uses: the real ones, or a test's. */
export interface CoalescerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(fn: () => void): void;
}

const REAL_CLOCK: CoalescerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setImmediate: (fn) => void setImmediate(fn),
};

export class Coalescer {
  private readonly holding = new Set<ChannelState>();
  private timer: unknown = null;
  /** When the last flush began (ms), until the loop's next check phase: its writes may be delaying reads. */
  private flushingSince: number | null = null;

  constructor(
    private readonly budgetMs: number,
    /** Publish one frame now (uWS batches a turn's publishes per socket). */
    private readonly publishNow: (channel: ChannelState, text: string) => void,
    private readonly clock: CoalescerClock = REAL_CLOCK,
  ) {}

  publish(channel: ChannelState, text: string): void {
    const held = channel.held;
    if (held !== null) {
      held.push(text);
      channel.heldBytes += Buffer.byteLength(text);
      if (channel.heldBytes >= HELD_BYTES_MAX) this.flush(channel);
      return;
    }
    const now = this.clock.now();
    if (now - channel.publishedAt >= this.budgetMs) {
      channel.publishedAt = now;
      this.publishNow(channel, text);
      return;
    }
    channel.held = [text];
    channel.heldBytes = Buffer.byteLength(text);
    this.holding.add(channel);
    // One timer for every channel holding: armed by the first, so none waits past the budget.
    this.timer ??= this.clock.setTimeout(this.flushAll, this.holdMs(now));
  }

  /**
   * How long a frame first held at `now` waits. In the turn of a flush (uWS writes a turn's
   * publishes before the loop polls) the frame may have arrived when the flush began.
   */
  private holdMs(now: number): number {
    const unread = this.flushingSince === null ? 0 : now - this.flushingSince;
    return Math.max(this.budgetMs / 2, this.budgetMs - unread);
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
    channel.publishedAt = this.clock.now();
    return held;
  }

  private readonly flushAll = (): void => {
    this.timer = null;
    if (this.holding.size === 0) return;
    this.flushingSince = this.clock.now();
    for (const channel of this.holding) this.flush(channel);
    // An immediate runs after the writes and the reads they held up: from then on, frames are read as they come.
    this.clock.setImmediate(this.flushed);
  };

  private readonly flushed = (): void => {
    this.flushingSince = null;
  };

  /** Shutting down: publish what is held, arm nothing more. */
  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.flushAll();
  }
}
