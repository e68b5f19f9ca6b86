/**
 * history: the last N channel MSGs per channel, replayed after JOINED with
 * `replay: true`. Frames are kept as the exact text receivers got, so keeping
 * them costs no serialization on the message path.
 */
import type { Plugin } from '../../kernel/types.js';

export interface HistoryOptions {
  /** Channel messages kept per channel and replayed after JOINED (default 20; 0 keeps none). */
  size?: number;
}

export function history(defaults: HistoryOptions = {}): Plugin<HistoryOptions> {
  return {
    name: 'history',
    setup(relay, options) {
      const size = options.size ?? defaults.size ?? 20;
      if (!Number.isInteger(size) || size < 0) throw new RangeError(`history size must be a whole number of messages, got ${size}`);
      if (size <= 0) return;
      /** Ring buffer per channel: `next` is where the next frame goes. */
      const rings = new Map<string, { frames: string[]; next: number }>();

      relay.hook('delivered', (_session, frame, serialized) => {
        if (frame.to.charCodeAt(0) !== 35 /* # */) return;
        let ring = rings.get(frame.to);
        if (ring === undefined) rings.set(frame.to, (ring = { frames: [], next: 0 }));
        if (ring.frames.length < size) ring.frames.push(serialized);
        else ring.frames[ring.next] = serialized;
        ring.next = (ring.next + 1) % size;
      });

      relay.hook('joined', (session, channel) => {
        const ring = rings.get(channel.name);
        if (ring === undefined) return;
        const n = ring.frames.length;
        const start = n < size ? 0 : ring.next;
        for (let i = 0; i < n; i++) {
          const text = ring.frames[(start + i) % n];
          // Every stored frame is a JSON object: mark it as a replay by appending the field.
          relay.sendRaw(session, text.slice(0, -1) + ',"replay":true}');
        }
      });

      relay.hook('channelDeleted', (channel) => {
        rings.delete(channel.name);
      });
    },
  };
}
