/**
 * The history kept in memory, under three bounds: messages per channel, bytes per channel and
 * bytes relay-wide. Whichever is hit, the oldest entries go first (relay-wide: the
 * oldest of all channels). Frames are the exact text receivers got.
 */

/** One stored frame; `live` turns false when it is evicted (the relay-wide queue skips it then). */
export interface Entry {
  readonly channel: string;
  readonly msgId: number;
  /** ms since epoch when it was kept. */
  readonly at: number;
  readonly text: string;
  readonly bytes: number;
  live: boolean;
}

export interface HistoryBounds {
  /** Messages per channel. */
  size: number;
  /** Bytes per channel. */
  maxChannelBytes: number;
  /** Bytes relay-wide. */
  maxBytes: number;
}

export class KeptHistory {
  private readonly channels = new Map<string, { entries: Entry[]; bytes: number }>();
  /** Every live entry (and some evicted ones) in arrival order, from `head`. */
  private queue: Entry[] = [];
  private head = 0;
  private liveCount = 0;
  /** Bytes of every live entry. */
  bytes = 0;

  constructor(
    private readonly bounds: HistoryBounds,
    /** Told when a channel lost its oldest entries, so the durable copy can drop them too. */
    private readonly evicted: (channel: string) => void = () => {},
  ) {}

  add(channel: string, msgId: number, text: string, at = Date.now()): void {
    const bytes = Buffer.byteLength(text);
    if (bytes > this.bounds.maxChannelBytes || bytes > this.bounds.maxBytes) return;
    let ring = this.channels.get(channel);
    if (ring === undefined) this.channels.set(channel, (ring = { entries: [], bytes: 0 }));
    const entry: Entry = { channel, msgId, at, text, bytes, live: true };
    ring.entries.push(entry);
    ring.bytes += bytes;
    this.bytes += bytes;
    this.liveCount++;
    this.queue.push(entry);
    while (ring.entries.length > this.bounds.size || ring.bytes > this.bounds.maxChannelBytes) this.evict(ring.entries[0]);
    while (this.bytes > this.bounds.maxBytes) this.evictOldest();
    // Entries evicted per channel stay in the queue: compact once they are most of it.
    if (this.queue.length - this.head > 2 * this.liveCount + 1024) {
      this.queue = this.queue.slice(this.head).filter((e) => e.live);
      this.head = 0;
    }
  }

  /** A channel's kept entries, oldest first. */
  entries(channel: string): readonly Entry[] {
    return this.channels.get(channel)?.entries ?? [];
  }

  /** The channels that keep something. */
  channelNames(): IterableIterator<string> {
    return this.channels.keys();
  }

  /** Drop a channel's entries kept before `cutoff` (ms). */
  dropOlderThan(channel: string, cutoff: number): void {
    const ring = this.channels.get(channel);
    while (ring !== undefined && ring.entries.length > 0 && ring.entries[0].at < cutoff) this.evict(ring.entries[0]);
  }

  /** Bytes kept for one channel. */
  channelBytes(channel: string): number {
    return this.channels.get(channel)?.bytes ?? 0;
  }

  drop(channel: string): void {
    const ring = this.channels.get(channel);
    if (ring === undefined) return;
    for (const entry of [...ring.entries]) this.evict(entry);
  }

  private evictOldest(): void {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head++];
      if (entry.live) {
        this.evict(entry);
        return;
      }
    }
  }

  /** Entries leave a channel in arrival order, so an evicted one is always its channel's first. */
  private evict(entry: Entry): void {
    const ring = this.channels.get(entry.channel)!;
    const index = ring.entries.indexOf(entry);
    ring.entries.splice(index, 1);
    ring.bytes -= entry.bytes;
    this.bytes -= entry.bytes;
    this.liveCount--;
    entry.live = false;
    this.evicted(entry.channel);
    if (ring.entries.length === 0) this.channels.delete(entry.channel);
  }
}
