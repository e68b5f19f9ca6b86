/**
 * history: channel messages kept per channel, replayed after JOINED with `replay: true`.
 * Frames are kept as the exact text receivers got (msg_id included), so keeping them
 * costs no serialization on the message path. Kept in memory under count and byte
 * bounds (per channel and relay-wide) and written behind to the store (the loss window
 * on a crash is the store's flush interval), so a restart brings them and the msg_id
 * counters back. `JOIN {since}` replays exactly what came after a msg_id; `history: 0`
 * replays nothing. A channel created by an ephemeral agent (no key) keeps its history
 * only while it has members.
 *
 * In a cluster the history is the shared one on Redis (the cluster plugin's publish
 * script keeps it): a JOIN reads what it replays from there, and what reached this relay
 * meanwhile, from the messages this relay keeps as they pass.
 */
import type { Channel, JoinOptions, Plugin, RelayApi, Session } from '../../kernel/types.js';
import type { LogEntry } from '../../store/types.js';
import { behind } from '../committed.js';
import { sessionKeys } from '../identity/index.js';
import { KeptHistory, type Entry } from './kept.js';

export interface HistoryOptions {
  /** Messages replayed after a plain JOIN (default 20; 0 replays none unless asked with `since`). */
  size?: number;
  /** Messages kept per channel, for `JOIN {since}` (default 1,000; at least `size`). */
  keep?: number;
  /** Bytes of history per channel (default 256 KiB). */
  maxChannelBytes?: number;
  /** Bytes of history relay-wide; past it the oldest of any channel go first (default 64 MiB). */
  maxBytes?: number;
  /** Age past which messages are dropped (default 7 days). */
  maxAgeMs?: number;
  /** How often the store's copy is trimmed to these bounds (default 60 s). */
  trimMs?: number;
}

export const HISTORY_DEFAULTS = { size: 20, keep: 1_000, maxChannelBytes: 256 * 1024, maxBytes: 64 * 1024 * 1024, maxAgeMs: 7 * 24 * 60 * 60 * 1000, trimMs: 60_000 } as const;

export function history(defaults: HistoryOptions = {}): Plugin<HistoryOptions> {
  return {
    name: 'history',
    async setup(relay: RelayApi, setupOptions: HistoryOptions) {
      const options = { ...HISTORY_DEFAULTS, ...defaults, ...setupOptions };
      const { size, maxChannelBytes, maxAgeMs } = options;
      for (const key of ['size', 'keep', 'maxChannelBytes', 'maxBytes'] as const) {
        if (!Number.isInteger(options[key]) || options[key] < 0) throw new RangeError(`history ${key} must be a whole number, got ${options[key]}`);
      }
      const keep = Math.max(size, options.keep);
      /** Channels whose oldest kept message moved: the store drops what memory no longer keeps, in the next batch. */
      const trimmed = new Set<string>();
      const kept = new KeptHistory({ size: keep, maxChannelBytes, maxBytes: options.maxBytes }, (channel) => trimmed.add(channel));
      const retention = { maxEntries: keep, maxBytes: maxChannelBytes, maxAgeMs };
      const saved = relay.store.namespace('history');
      const keys = sessionKeys(relay);
      /** Channels whose creator had no key: their history goes when they empty. */
      const ephemeral = new Set<string>();

      const clustered = relay.cluster !== null;
      // After a restart: each channel's kept messages, and its msg_ids go on from the last one.
      for (const stream of clustered ? [] : await saved.streams()) {
        if (relay.channels.get(stream) === undefined) {
          await saved.dropStream(stream);
          continue;
        }
        relay.channels.resumeMessageIds(stream, await saved.lastSeq(stream));
        await saved.trim(stream, retention);
        for (const entry of (await saved.tail<string>(stream, keep)) as Array<LogEntry<string>>) kept.add(stream, entry.seq, entry.value, entry.at);
      }

      const forget = (name: string) => {
        kept.drop(name);
        behind(saved.dropStream(name), `the history of ${name}`, relay.logger);
      };

      relay.hook('channelCreated', (channel, by) => {
        if (by !== null && keys.get(by) === undefined) ephemeral.add(channel.name);
      });

      if (clustered) {
        relay.hook('relayed', (channel, msgId, serialized) => kept.add(channel.name, msgId, serialized));
      } else {
        relay.hook('delivered', (_session, frame, serialized) => {
          if (frame.to.charCodeAt(0) !== 35 /* # */ || frame.msg_id === undefined) return;
          kept.add(frame.to, frame.msg_id, serialized);
          saved.appendBehind(frame.to, frame.msg_id, serialized);
        });
      }

      /** In a cluster: what a pending JOIN read of the shared history, by session and channel. */
      const fetched = relay.sessionSlot<Map<string, { entries: Entry[]; last: number }>>('history-fetched');
      if (clustered) {
        // Runs after the cluster's join hook: this relay already hears the channel, so whatever the read misses reaches `kept`.
        relay.hook('join', async (session, channel, join) => {
          const wanted = join.since === undefined ? Math.min(join.history ?? size, keep) : keep;
          const [entries, last] = await Promise.all([
            join.since === undefined ? saved.tail<string>(channel.name, wanted) : saved.range<string>(channel.name, join.since, keep),
            saved.lastSeq(channel.name),
          ]);
          let mine = fetched.get(session);
          if (mine === undefined) fetched.set(session, (mine = new Map()));
          mine.set(channel.name, {
            entries: entries.map((e) => ({ channel: channel.name, msgId: e.seq, at: e.at, text: e.value, bytes: e.value.length, live: true })),
            last,
          });
        });
      }

      /** What a JOIN replays from: the shared read (cluster) with what passed here since, or what this relay kept. */
      const replayable = (session: Session, channel: Channel): { all: readonly Entry[]; last: number } => {
        const read = fetched.get(session)?.get(channel.name);
        if (read === undefined) return { all: kept.entries(channel.name), last: channel.lastMsgId };
        fetched.get(session)!.delete(channel.name);
        const newest = read.entries.length > 0 ? read.entries[read.entries.length - 1].msgId : read.last;
        return { all: [...read.entries, ...kept.entries(channel.name).filter((e) => e.msgId > newest)], last: Math.max(read.last, channel.lastMsgId) };
      };

      relay.hook('joined', (session: Session, channel: Channel, join: Readonly<JoinOptions>) => {
        const { all, last } = replayable(session, channel);
        if (join.since === undefined) {
          const n = Math.min(join.history ?? size, keep);
          replay(relay, session, all.slice(Math.max(0, all.length - n)));
          return;
        }
        const since = join.since;
        let from = all.findIndex((k) => k.msgId > since);
        if (from === -1) from = all.length;
        const wanted = all.slice(from);
        const sent = join.history === undefined ? wanted : wanted.slice(Math.max(0, wanted.length - join.history));
        replay(relay, session, sent);
        // Messages after `since` that are no longer kept, or that `history` left out: the client knows it missed some.
        const oldestKept = all.length > 0 ? all[0].msgId : last + 1;
        const incomplete = (since + 1 < oldestKept && since < last) || sent.length < wanted.length;
        relay.send(session, { type: 'HISTORY', channel: channel.name, since, count: sent.length, incomplete, last_msg_id: last });
      });

      relay.hook('leave', (_session, channel) => {
        // In a cluster an empty channel here may have members elsewhere: the channel's reclaim decides.
        if (!clustered && channel.members.size === 0 && ephemeral.has(channel.name)) forget(channel.name);
      });

      relay.hook('channelDeleted', (channel) => {
        ephemeral.delete(channel.name);
        forget(channel.name);
      });

      // The byte budgets hold on disk too: what memory evicted goes from the store soon after.
      const dropEvicted = () => {
        for (const name of trimmed) {
          const first = kept.first(name);
          saved.dropBefore(name, first === undefined ? (relay.channels.get(name)?.lastMsgId ?? 0) + 1 : first.msgId);
        }
        trimmed.clear();
      };
      // In a cluster the shared log is bounded where it is written; this relay keeps only a part of it.
      if (!clustered) {
        relay.every(100, dropEvicted);
        relay.hook('close', dropEvicted);
      }

      relay.every(options.trimMs, () => {
        const cutoff = Date.now() - maxAgeMs;
        for (const name of [...kept.channelNames()]) {
          kept.dropOlderThan(name, cutoff);
          behind(saved.trim(name, retention), `trimming the history of ${name}`, relay.logger);
        }
      });
    },
  };
}

/** Every kept frame is a JSON object: mark it as a replay by appending the field. */
function replay(relay: RelayApi, session: Session, entries: readonly Entry[]): void {
  for (const e of entries) relay.sendRaw(session, e.text.slice(0, -1) + ',"replay":true}');
}
