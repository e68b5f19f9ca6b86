import test from 'ava';
import { msgCheck, msgSchema } from '../protocol/schemas.js';

// The kernel skips the MSG schema when msgCheck says yes: the two must agree on every frame.
const MAX = 16;
const frames: Array<Record<string, unknown>> = [
  { type: 'MSG', to: '#general', content: 'hi' },
  { type: 'MSG', to: '@abcd1234', content: '' },
  { type: 'MSG', to: '#general', content: 'x'.repeat(MAX) },
  { type: 'MSG', to: '#general', content: 'x'.repeat(MAX + 1) },
  { type: 'MSG', to: '#general', content: 'hi', ts: 1795680000000, sig: 'a'.repeat(88) },
  { type: 'MSG', to: '#general', content: 'hi', ts: '1795680000000' },
  { type: 'MSG', to: '#general', content: 'hi', ts: null },
  { type: 'MSG', to: '#general', content: 'hi', ts: Number.POSITIVE_INFINITY },
  { type: 'MSG', to: '#general', content: 'hi', ts: Number.NaN },
  { type: 'MSG', to: '#general', content: 'hi', sig: '' },
  { type: 'MSG', to: '#general', content: 'hi', sig: 'a'.repeat(256) },
  { type: 'MSG', to: '#general', content: 'hi', sig: 'a'.repeat(257) },
  { type: 'MSG', to: '#general', content: 'hi', sig: 5 },
  { type: 'MSG', to: 'general', content: 'hi' },
  { type: 'MSG', to: '#', content: 'hi' },
  { type: 'MSG', to: '#' + 'a'.repeat(32), content: 'hi' },
  { type: 'MSG', to: '@abc', content: 'hi' },
  { type: 'MSG', to: '@abcd1234x', content: 'hi' },
  { type: 'MSG', to: '#gen eral', content: 'hi' },
  { type: 'MSG', to: 5, content: 'hi' },
  { type: 'MSG', content: 'hi' },
  { type: 'MSG', to: '#general' },
  { type: 'MSG', to: '#general', content: 7 },
  { type: 'MSG', to: '#general', content: null },
  { type: 'MSG', to: '#general', content: 'hi', extra: { nested: true } },
];

test('the MSG fast check accepts exactly the frames the MSG schema accepts', (t) => {
  const check = msgCheck(MAX);
  const schema = msgSchema(MAX);
  for (const frame of frames) {
    t.is(check(frame), schema.is(frame), JSON.stringify(frame, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
  }
  t.true(frames.some((f) => check(f)) && frames.some((f) => !check(f)), 'samples on both sides');
});
