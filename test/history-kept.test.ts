/**
 * The history kept in memory: each bound evicts the oldest entries first, and a channel that
 * evicts on every message (a full one) keeps exactly its newest entries in order.
 */
import test from 'ava';
import { KeptHistory } from '../plugins/history/kept.js';

const ids = (kept: KeptHistory, channel: string): number[] => kept.entries(channel).map((e) => e.msgId);

test('a full channel keeps its newest entries, in order, through thousands of evictions', (t) => {
  const evicted: string[] = [];
  const kept = new KeptHistory({ size: 100, maxChannelBytes: 1 << 20, maxBytes: 1 << 30 }, (channel) => evicted.push(channel));
  for (let i = 1; i <= 5000; i++) {
    kept.add('#busy', i, `m${i}`, i);
    if (i % 997 === 0) t.deepEqual(ids(kept, '#busy'), Array.from({ length: 100 }, (_, k) => i - 99 + k));
    t.is(kept.first('#busy')!.msgId, Math.max(1, i - 99));
  }
  t.deepEqual(ids(kept, '#busy'), Array.from({ length: 100 }, (_, k) => 4901 + k));
  t.is(evicted.length, 4900);
  t.is(kept.bytes, kept.entries('#busy').reduce((a, e) => a + e.bytes, 0));
});

test('per-channel bytes, relay-wide bytes and age each evict the oldest first; drop forgets a channel', (t) => {
  const kept = new KeptHistory({ size: 1000, maxChannelBytes: 30, maxBytes: 50 });
  for (let i = 1; i <= 4; i++) kept.add('#a', i, '0123456789', i); // 10 bytes each: #a holds 3
  t.deepEqual(ids(kept, '#a'), [2, 3, 4]);
  kept.add('#b', 1, '0123456789', 10);
  kept.add('#b', 2, '0123456789', 11);
  kept.add('#b', 3, '0123456789', 12); // 60 bytes in all: the oldest of all (#a 2) goes
  t.deepEqual(ids(kept, '#a'), [3, 4]);
  t.deepEqual(ids(kept, '#b'), [1, 2, 3]);
  t.is(kept.bytes, 50);
  kept.dropOlderThan('#b', 12);
  t.deepEqual(ids(kept, '#b'), [3]);
  kept.dropOlderThan('#a', 100);
  t.deepEqual(ids(kept, '#a'), []);
  t.is(kept.first('#a'), undefined);
  t.deepEqual([...kept.channelNames()], ['#b']);
  kept.drop('#b');
  t.is(kept.bytes, 0);
  t.deepEqual([...kept.channelNames()], []);
});
