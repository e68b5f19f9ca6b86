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

/**
 * One channel's entries, oldest first, from `head`: eviction only moves `head` (a full channel
 * evicts on every MSG, and shifting a 1,000-entry array each time showed in profiles); the
 * evicted front is cut off once it is most of the array.
 */
interface Ring {
  entries: Array<Entry | undefined>;
  head: number;
  bytes: number;
}

export class KeptHistory {
  private readonly channels = new Map<string, Ring>();
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
    if (ring === undefined) this.channels.set(channel, (ring = { entries: [], head: 0, bytes: 0 }));
    const entry: Entry = { channel, msgId, at, text, bytes, live: true };
    ring.entries.push(entry);
    ring.bytes += bytes;
    this.bytes += bytes;
    this.liveCount++;
    this.queue.push(entry);
    while (ring.entries.length - ring.head > this.bounds.size || ring.bytes > this.bounds.maxChannelBytes) this.evict(ring.entries[ring.head]!);
    while (this.bytes > this.bounds.maxBytes) this.evictOldest();
    // Entries evicted per channel stay in the queue: compact once they are most of it.
    if (this.queue.length - this.head > 2 * this.liveCount + 1024) {
      this.queue = this.queue.slice(this.head).filter((e) => e.live);
      this.head = 0;
    }
  }

  /** A channel's kept entries, oldest first. */
  entries(channel: string): readonly Entry[] {
    const ring = this.channels.get(channel);
    if (ring === undefined) return [];
    compact(ring);
    return ring.entries as Entry[];
  }

  /** A channel's oldest kept entry. */
  first(channel: string): Entry | undefined {
    const ring = this.channels.get(channel);
    return ring === undefined ? undefined : ring.entries[ring.head];
  }

  /** The channels that keep something. */
  channelNames(): IterableIterator<string> {
    return this.channels.keys();
  }

  /** Drop a channel's entries kept before `cutoff` (ms). */
  dropOlderThan(channel: string, cutoff: number): void {
    for (let first = this.first(channel); first !== undefined && first.at < cutoff; first = this.first(channel)) this.evict(first);
  }

  /** Bytes kept for one channel. */
  channelBytes(channel: string): number {
    return this.channels.get(channel)?.bytes ?? 0;
  }

  drop(channel: string): void {
    const ring = this.channels.get(channel);
    if (ring === undefined) return;
    for (const entry of ring.entries.slice(ring.head)) this.evict(entry!);
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
    ring.entries[ring.head++] = undefined;
    if (ring.head > 64 && ring.head * 2 > ring.entries.length) compact(ring);
    ring.bytes -= entry.bytes;
    this.bytes -= entry.bytes;
    this.liveCount--;
    entry.live = false;
    this.evicted(entry.channel);
    if (ring.head === ring.entries.length) this.channels.delete(entry.channel);
  }
}

/** Cut off the evicted front. */
function compact(ring: Ring): void {
  if (ring.head === 0) return;
  ring.entries.splice(0, ring.head);
  ring.head = 0;
}
