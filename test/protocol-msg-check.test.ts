import test from 'ava';
import { jsonStringBytes, msgCheck, msgSchema } from '../protocol/schemas.js';

// The kernel skips the MSG schema when msgCheck says yes: the two must agree on every frame.
const MAX = 16;
/** 60 bytes: 10 control characters (6 bytes each) fit, 11 do not; 16 plain characters always fit. */
const BYTES = 60;
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
  { type: 'MSG', to: '#general', content: '\u0001'.repeat(10) },
  { type: 'MSG', to: '#general', content: '\u0001'.repeat(11) },
  { type: 'MSG', to: '#general', content: '\u0001'.repeat(10) + 'x' },
  { type: 'MSG', to: '#general', content: '"'.repeat(16) },
  { type: 'MSG', to: '#general', content: '\n'.repeat(16) },
  { type: 'MSG', to: '#general', content: '\ud800'.repeat(10) },
  { type: 'MSG', to: '#general', content: '\ud800'.repeat(11) },
  { type: 'MSG', to: '#general', content: '😀'.repeat(8) },
  { type: 'MSG', to: '#general', content: '中'.repeat(16) },
];

test('the MSG fast check accepts exactly the frames the MSG schema accepts', (t) => {
  const check = msgCheck(MAX, BYTES);
  const schema = msgSchema(MAX, BYTES);
  for (const frame of frames) {
    t.is(check(frame), schema.is(frame), JSON.stringify(frame, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
  }
  t.true(frames.some((f) => check(f)) && frames.some((f) => !check(f)), 'samples on both sides');
});

test('the byte count of MSG content equals the UTF-8 length of its JSON serialization', (t) => {
  const samples = ['plain', '\u0001\u001f', '\n\r\t\b\f', '"\\', 'é中😀', '\ud800x', 'x\udc00', '\u2028', ''];
  for (const sample of samples) t.is(jsonStringBytes(sample), Buffer.byteLength(JSON.stringify(sample)) - 2, JSON.stringify(sample));
});
