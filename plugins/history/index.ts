/**
 * history: the last channel MSGs per channel, replayed after JOINED with
 * `replay: true`, bounded by count and by bytes (per channel and relay-wide). Frames
 * are kept as the exact text receivers got, so keeping them costs no serialization
 * on the message path. A channel created by an ephemeral agent (no key) keeps its
 * history only while it has members.
 */
import type { Plugin } from '../../kernel/types.js';
import { sessionKeys } from '../identity/index.js';
import { HistoryStore } from './store.js';

export interface HistoryOptions {
  /** Channel messages kept per channel and replayed after JOINED (default 20; 0 keeps none). */
  size?: number;
  /** Bytes of history per channel (default 256 KiB). */
  maxChannelBytes?: number;
  /** Bytes of history relay-wide; past it the oldest of any channel go first (default 64 MiB). */
  maxBytes?: number;
}

export const HISTORY_DEFAULTS = { size: 20, maxChannelBytes: 256 * 1024, maxBytes: 64 * 1024 * 1024 } as const;

export function history(defaults: HistoryOptions = {}): Plugin<HistoryOptions> {
  return {
    name: 'history',
    setup(relay, setupOptions) {
      const options = { ...HISTORY_DEFAULTS, ...defaults, ...setupOptions };
      const { size } = options;
      if (!Number.isInteger(size) || size < 0) throw new RangeError(`history size must be a whole number of messages, got ${size}`);
      for (const key of ['maxChannelBytes', 'maxBytes'] as const) {
        if (!Number.isInteger(options[key]) || options[key] < 0) throw new RangeError(`history ${key} must be a whole number of bytes, got ${options[key]}`);
      }
      if (size <= 0) return;
      const store = new HistoryStore(options);
      const keys = sessionKeys(relay);
      /** Channels whose creator had no key: their history goes when they empty. */
      const ephemeral = new Set<string>();

      relay.hook('channelCreated', (channel, by) => {
        if (by !== null && keys.get(by) === undefined) ephemeral.add(channel.name);
      });

      relay.hook('delivered', (_session, frame, serialized) => {
        if (frame.to.charCodeAt(0) === 35 /* # */) store.add(frame.to, serialized);
      });

      relay.hook('joined', (session, channel) => {
        for (const text of store.frames(channel.name)) {
          // Every stored frame is a JSON object: mark it as a replay by appending the field.
          relay.sendRaw(session, text.slice(0, -1) + ',"replay":true}');
        }
      });

      relay.hook('leave', (_session, channel) => {
        if (channel.members.size === 0 && ephemeral.has(channel.name)) store.drop(channel.name);
      });

      relay.hook('channelDeleted', (channel) => {
        ephemeral.delete(channel.name);
        store.drop(channel.name);
      });
    },
  };
}
