/**
 * history: channel messages kept per channel, replayed after JOINED with `replay: true`.
 * Frames are kept as the exact text receivers got (msg_id included), so keeping them
 * costs no serialization on the message path. Kept in memory under count and byte
 * bounds (per channel and relay-wide) and written behind to the store (the loss window
 * on a crash is the store's flush interval), so a restart brings them and the msg_id
 * counters back. `JOIN {since}` replays exactly what came after a msg_id; `history: 0`
 * replays nothing. A channel created by an ephemeral agent (no key) keeps its history
 * only while it has members.
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

      // After a restart: each channel's kept messages, and its msg_ids go on from the last one.
      for (const stream of await saved.streams()) {
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

      relay.hook('delivered', (_session, frame, serialized) => {
        if (frame.to.charCodeAt(0) !== 35 /* # */ || frame.msg_id === undefined) return;
        kept.add(frame.to, frame.msg_id, serialized);
        saved.appendBehind(frame.to, frame.msg_id, serialized);
      });

      relay.hook('joined', (session: Session, channel: Channel, join: Readonly<JoinOptions>) => {
        const all = kept.entries(channel.name);
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
        const oldestKept = all.length > 0 ? all[0].msgId : channel.lastMsgId + 1;
        const incomplete = (since + 1 < oldestKept && since < channel.lastMsgId) || sent.length < wanted.length;
        relay.send(session, { type: 'HISTORY', channel: channel.name, since, count: sent.length, incomplete, last_msg_id: channel.lastMsgId });
      });

      relay.hook('leave', (_session, channel) => {
        if (channel.members.size === 0 && ephemeral.has(channel.name)) forget(channel.name);
      });

      relay.hook('channelDeleted', (channel) => {
        ephemeral.delete(channel.name);
        forget(channel.name);
      });

      // The byte budgets hold on disk too: what memory evicted goes from the store soon after.
      const dropEvicted = () => {
        for (const name of trimmed) {
          const first = kept.entries(name)[0];
          saved.dropBefore(name, first === undefined ? (relay.channels.get(name)?.lastMsgId ?? 0) + 1 : first.msgId);
        }
        trimmed.clear();
      };
      relay.every(100, dropEvicted);
      relay.hook('close', dropEvicted);

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
