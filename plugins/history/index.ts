/**
 * history: channel messages kept per channel, replayed after JOINED with `replay: true`.
 * Frames are kept as the exact text receivers got (msg_id included), so keeping them
 * costs no serialization on the message path. Each channel's recent messages live in
 * memory for replay and are written behind to the store (the stated loss window on a
 * crash is the store's flush interval), so a restart brings them and the msg_id
 * counters back. `JOIN {since}` replays exactly what came after a msg_id; `history: 0`
 * replays nothing.
 */
import type { Channel, JoinOptions, Plugin, RelayApi, Session } from '../../kernel/types.js';
import type { LogEntry } from '../../store/types.js';

export interface HistoryOptions {
  /** Messages replayed after a plain JOIN (default 20; 0 replays none unless asked with `since`). */
  size?: number;
  /** Messages kept per channel, for `JOIN {since}` (default 1,000; at least `size`). */
  keep?: number;
  /** Bytes of history kept per channel (default 1 MiB). */
  maxBytesPerChannel?: number;
  /** Age past which messages are dropped (default 7 days). */
  maxAgeMs?: number;
  /** How often the store's copy is trimmed to these bounds (default 60 s). */
  trimMs?: number;
}

interface Kept {
  msgId: number;
  at: number;
  text: string;
}

/** One channel's kept messages, oldest first, within count and bytes. */
class Ring {
  readonly items: Kept[] = [];
  private head = 0;
  private bytes = 0;
  constructor(private readonly keep: number, private readonly maxBytes: number) {}

  push(item: Kept): void {
    this.items.push(item);
    this.bytes += item.text.length;
    while (this.items.length - this.head > this.keep || (this.bytes > this.maxBytes && this.items.length - this.head > 1)) {
      this.bytes -= this.items[this.head++].text.length;
    }
    // Compact now and then instead of shifting on every message.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }
  /** Kept messages, oldest first. */
  view(): Kept[] {
    return this.head === 0 ? this.items : this.items.slice(this.head);
  }
  dropOlderThan(cutoff: number): void {
    while (this.head < this.items.length && this.items[this.head].at < cutoff) this.bytes -= this.items[this.head++].text.length;
  }
}

export function history(defaults: HistoryOptions = {}): Plugin<HistoryOptions> {
  return {
    name: 'history',
    async setup(relay: RelayApi, setupOptions: HistoryOptions) {
      const options = { ...defaults, ...setupOptions };
      const size = options.size ?? 20;
      if (!Number.isInteger(size) || size < 0) throw new RangeError(`history size must be a whole number of messages, got ${size}`);
      const keep = Math.max(size, options.keep ?? 1_000);
      const maxBytes = options.maxBytesPerChannel ?? 1024 * 1024;
      const maxAgeMs = options.maxAgeMs ?? 7 * 24 * 60 * 60 * 1000;
      const store = relay.store.namespace('history');
      const rings = new Map<string, Ring>();
      const ringOf = (name: string) => {
        let ring = rings.get(name);
        if (ring === undefined) rings.set(name, (ring = new Ring(keep, maxBytes)));
        return ring;
      };

      // After a restart: each channel's kept messages, and its msg_ids go on from the last one.
      for (const stream of await store.streams()) {
        if (relay.channels.get(stream) === undefined) {
          await store.dropStream(stream);
          continue;
        }
        relay.channels.resumeMessageIds(stream, await store.lastSeq(stream));
        await store.trim(stream, { maxEntries: keep, maxBytes, maxAgeMs });
        const ring = ringOf(stream);
        for (const entry of await store.tail<string>(stream, keep) as Array<LogEntry<string>>) ring.push({ msgId: entry.seq, at: entry.at, text: entry.value });
      }

      relay.hook('delivered', (_session, frame, serialized) => {
        if (frame.to.charCodeAt(0) !== 35 /* # */ || frame.msg_id === undefined) return;
        const at = Date.now();
        ringOf(frame.to).push({ msgId: frame.msg_id, at, text: serialized });
        store.appendBehind(frame.to, frame.msg_id, serialized);
      });

      relay.hook('joined', (session: Session, channel: Channel, join: Readonly<JoinOptions>) => {
        const kept = rings.get(channel.name)?.view() ?? [];
        if (join.since === undefined) {
          const n = Math.min(join.history ?? size, keep);
          replay(relay, session, kept.slice(Math.max(0, kept.length - n)));
          return;
        }
        const since = join.since;
        let from = kept.findIndex((k) => k.msgId > since);
        if (from === -1) from = kept.length;
        const wanted = kept.slice(from);
        const sent = join.history === undefined ? wanted : wanted.slice(Math.max(0, wanted.length - join.history));
        replay(relay, session, sent);
        // Messages after `since` that are no longer kept, or that `history` left out: the client knows it missed some.
        const oldestKept = kept.length > 0 ? kept[0].msgId : channel.lastMsgId + 1;
        const incomplete = (since + 1 < oldestKept && since < channel.lastMsgId) || sent.length < wanted.length;
        relay.send(session, { type: 'HISTORY', channel: channel.name, since, count: sent.length, incomplete, last_msg_id: channel.lastMsgId });
      });

      relay.hook('channelDeleted', (channel) => {
        rings.delete(channel.name);
        void store.dropStream(channel.name).catch((err: unknown) => relay.logger.error('history_drop', { channel: channel.name, error: String(err) }));
      });

      relay.every(options.trimMs ?? 60_000, () => {
        const cutoff = Date.now() - maxAgeMs;
        for (const [name, ring] of rings) {
          ring.dropOlderThan(cutoff);
          void store.trim(name, { maxEntries: keep, maxBytes, maxAgeMs }).catch((err: unknown) => relay.logger.error('history_trim', { channel: name, error: String(err) }));
        }
      });
    },
  };
}

/** Every kept frame is a JSON object: mark it as a replay by appending the field. */
function replay(relay: RelayApi, session: Session, kept: readonly Kept[]): void {
  for (const k of kept) relay.sendRaw(session, k.text.slice(0, -1) + ',"replay":true}');
}
