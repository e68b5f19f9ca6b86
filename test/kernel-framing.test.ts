/**
 * Framing and validation: one JSON object per text frame; anything else is an
 * ERROR INVALID_MSG, never a crash, never a relay, and the session lives on.
 */
import test from 'ava';
import { connect, connectAs, expectRefused, startRelay, startRelayProcess } from './helpers/relay-client.js';

test('non-JSON text is refused with INVALID_MSG and the session lives on', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.sendRaw('this is not json');
  const error = await expectRefused(t, c, 'INVALID_MSG');
  t.regex(String(error.message), /JSON/);
});

for (const [label, text] of [
  ['an array', '[{"type":"PING"}]'],
  ['a number', '42'],
  ['null', 'null'],
  ['a string', '"PING"'],
  ['a boolean', 'true'],
] as const) {
  test(`JSON that is ${label}, not an object, is refused with INVALID_MSG`, async (t) => {
    const relay = await startRelay(t);
    const c = await connect(t, relay);
    c.sendRaw(text);
    await expectRefused(t, c, 'INVALID_MSG');
  });
}

test('a frame without a type is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.send({ name: 'alice' });
  const error = await expectRefused(t, c, 'INVALID_MSG');
  t.regex(String(error.message), /type/);
});

test('a frame whose type is not a string is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  for (const type of [5, null, ['PING'], { PING: true }]) {
    c.send({ type });
    await expectRefused(t, c, 'INVALID_MSG');
  }
});

test('an unknown type is refused with INVALID_MSG whose ref is that type', async (t) => {
  const relay = await startRelay(t);
  const c = await connectAs(t, relay, 'alice');
  c.send({ type: 'TELEPORT', to: '#general' });
  const error = await expectRefused(t, c, 'INVALID_MSG', 'TELEPORT');
  t.regex(String(error.message), /TELEPORT/);
});

test('an unknown type is refused even before IDENTIFY', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.send({ type: 'ping' });
  await expectRefused(t, c, 'INVALID_MSG', 'ping');
});

test('a binary frame is refused with INVALID_MSG and the session lives on', async (t) => {
  const relay = await startRelay(t);
  const c = await connectAs(t, relay, 'alice');
  c.sendBinary(Buffer.from(JSON.stringify({ type: 'PING' })));
  const error = await expectRefused(t, c, 'INVALID_MSG');
  t.regex(String(error.message), /binary/);
});

test('a frame over maxPayloadBytes is refused with INVALID_MSG and the session lives on', async (t) => {
  const relay = await startRelay(t, { maxPayloadBytes: 1024 });
  const c = await connectAs(t, relay, 'alice');
  c.send({ type: 'PING', pad: 'x'.repeat(2000) });
  const error = await expectRefused(t, c, 'INVALID_MSG');
  t.regex(String(error.message), /1024/);
});

test('the default payload limit is 64 KiB', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  const base = JSON.stringify({ type: 'PING', pad: '' });
  c.send({ type: 'PING', pad: 'x'.repeat(64 * 1024 - base.length) });
  await c.next('PONG');
  c.send({ type: 'PING', pad: 'x'.repeat(64 * 1024 - base.length + 1) });
  await expectRefused(t, c, 'INVALID_MSG');
});

test('a frame of exactly maxPayloadBytes is accepted', async (t) => {
  const relay = await startRelay(t, { maxPayloadBytes: 1024 });
  const c = await connect(t, relay);
  const base = JSON.stringify({ type: 'PING', pad: '' });
  c.send({ type: 'PING', pad: 'x'.repeat(1024 - base.length) });
  await c.next('PONG');
  t.is(c.pending('ERROR').length, 0);
});

test('an oversize MSG is not relayed to the channel', async (t) => {
  const relay = await startRelay(t, { maxPayloadBytes: 1024, maxContentChars: 100_000 });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'y'.repeat(5000) });
  await expectRefused(t, alice, 'INVALID_MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('a frame far past the payload limit closes that socket and the relay serves the others', async (t) => {
  // PROTOCOL.md allows "a close with 1009 for oversize"; uWS drops the socket without a close
  // frame past its own limit (the client sees 1006), so only "closed, not normally" is asserted.
  const relay = await startRelay(t, { maxPayloadBytes: 1024 });
  const other = await connectAs(t, relay, 'other');
  const c = await connectAs(t, relay, 'alice');
  c.sendRaw(JSON.stringify({ type: 'PING', pad: 'x'.repeat(2 * 1024 * 1024) }));
  const closed = await c.closed;
  t.not(closed.code, 1000);
  t.not(closed.code, 1001);
  await other.ping();
  t.is(relay.api.sessions.size, 1);
});

test('MSG content over maxContentChars is refused with INVALID_MSG, ref MSG', async (t) => {
  const relay = await startRelay(t, { maxContentChars: 50 });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'z'.repeat(51) });
  const error = await expectRefused(t, alice, 'INVALID_MSG', 'MSG');
  t.regex(String(error.message), /content/);
  t.is(alice.pending('MSG').length, 0);
});

test('MSG content of exactly maxContentChars is delivered', async (t) => {
  const relay = await startRelay(t, { maxContentChars: 50 });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'z'.repeat(50) });
  const msg = await alice.next('MSG');
  t.is(msg.content, 'z'.repeat(50));
});

test('the default content limit is 4096 characters', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'a'.repeat(4096) });
  await alice.next('MSG');
  alice.send({ type: 'MSG', to: '#general', content: 'a'.repeat(4097) });
  await expectRefused(t, alice, 'INVALID_MSG', 'MSG');
});

for (const [label, text] of [
  ['__proto__ at the top level', '{"type":"PING","__proto__":{"polluted":true}}'],
  ['constructor at the top level', '{"type":"PING","constructor":{"prototype":{"polluted":true}}}'],
  ['prototype at the top level', '{"type":"PING","prototype":1}'],
  ['__proto__ nested in an object', '{"type":"PING","meta":{"deep":{"__proto__":{"polluted":true}}}}'],
  ['constructor nested in an array', '{"type":"PING","list":[1,{"constructor":2}]}'],
  ['prototype with spaces before the colon', '{"type":"PING","x":{"prototype"  :  1}}'],
] as const) {
  test(`a frame with ${label} is refused with INVALID_MSG`, async (t) => {
    const relay = await startRelay(t);
    const c = await connect(t, relay);
    c.sendRaw(text);
    const error = await expectRefused(t, c, 'INVALID_MSG');
    t.regex(String(error.message), /forbidden key/);
    t.is(({} as Record<string, unknown>).polluted, undefined);
  });
}

test('a MSG with a nested forbidden key is not relayed', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.sendRaw('{"type":"MSG","to":"#general","content":"hi","meta":{"__proto__":{"x":1}}}');
  await expectRefused(t, alice, 'INVALID_MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

// Regression (fixed in 975ced6): the cheap pre-scan matched only the literal text, so an escaped
// "\u005f_proto__" key, which JSON.parse turns into "__proto__", skipped the precise check.
test('a forbidden key written with a JSON unicode escape is refused too', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.sendRaw('{"type":"PING","\\u005f_proto__":{"polluted":true}}');
  const answer = await c.next(['ERROR', 'PONG']);
  t.is(answer.type, 'ERROR');
  t.is(answer.code, 'INVALID_MSG');
});

for (const frame of [
  { type: 'JOIN', channel: '#general' },
  { type: 'LEAVE', channel: '#general' },
  { type: 'MSG', to: '#general', content: 'hi' },
  { type: 'LIST_CHANNELS' },
  { type: 'LIST_AGENTS', channel: '#general' },
  { type: 'CREATE_CHANNEL', channel: '#early' },
  { type: 'INVITE', channel: '#general', agent: '@abcdefgh' },
  { type: 'WHOIS', agent: '@abcdefgh' },
]) {
  test(`${frame.type} before IDENTIFY is refused with AUTH_REQUIRED, ref ${frame.type}`, async (t) => {
    const relay = await startRelay(t);
    const c = await connect(t, relay);
    c.send(frame);
    await expectRefused(t, c, 'AUTH_REQUIRED', frame.type);
  });
}

test('a MSG sent before IDENTIFY is not relayed', async (t) => {
  const relay = await startRelay(t);
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const c = await connect(t, relay);
  c.send({ type: 'MSG', to: '#general', content: 'sneaky' });
  await expectRefused(t, c, 'AUTH_REQUIRED', 'MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('PING is answered before IDENTIFY', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  const pong = await c.ping();
  t.is(typeof pong.ts, 'number');
});

test('a field of the wrong type is refused with INVALID_MSG naming the field', async (t) => {
  const relay = await startRelay(t);
  const c = await connectAs(t, relay, 'alice');
  await c.join('#general');
  const cases: Array<[object, string, string]> = [
    [{ type: 'MSG', to: '#general', content: 5 }, 'MSG', 'content'],
    [{ type: 'MSG', to: '#general', content: 'x', ts: 'now' }, 'MSG', 'ts'],
    [{ type: 'MSG', to: '#general', content: 'x', sig: 12 }, 'MSG', 'sig'],
    [{ type: 'MSG', to: 42, content: 'x' }, 'MSG', 'to'],
    [{ type: 'CREATE_CHANNEL', channel: '#typed', invite_only: 'yes' }, 'CREATE_CHANNEL', 'invite_only'],
    [{ type: 'INVITE', channel: '#general', agent: 7 }, 'INVITE', 'agent'],
  ];
  for (const [frame, ref, field] of cases) {
    c.send(frame);
    const error = await expectRefused(t, c, 'INVALID_MSG', ref);
    t.true(String(error.message).includes(field), `message names "${field}": ${String(error.message)}`);
  }
  t.is(c.pending('MSG').length, 0);
});

test('a missing field is refused with INVALID_MSG naming the field', async (t) => {
  const relay = await startRelay(t);
  const c = await connectAs(t, relay, 'alice');
  await c.join('#general');
  const cases: Array<[object, string, string]> = [
    [{ type: 'MSG', to: '#general' }, 'MSG', 'content'],
    [{ type: 'MSG', content: 'x' }, 'MSG', 'to'],
    [{ type: 'INVITE', channel: '#general' }, 'INVITE', 'agent'],
    [{ type: 'WHOIS' }, 'WHOIS', 'agent'],
  ];
  for (const [frame, ref, field] of cases) {
    c.send(frame);
    const error = await expectRefused(t, c, 'INVALID_MSG', ref);
    t.true(String(error.message).includes(`"${field}"`), `message names "${field}": ${String(error.message)}`);
  }
});

test('a missing channel field is refused naming the field', async (t) => {
  // The channel struct is a name struct, so the kernel answers INVALID_NAME here (see the report).
  const relay = await startRelay(t);
  const c = await connectAs(t, relay, 'alice');
  for (const type of ['JOIN', 'LEAVE', 'LIST_AGENTS', 'CREATE_CHANNEL']) {
    c.send({ type });
    const error = await c.next('ERROR');
    t.true(['INVALID_MSG', 'INVALID_NAME'].includes(String(error.code)));
    t.is(error.ref, type);
    t.regex(String(error.message), /"channel"/);
    await c.ping();
  }
});

test('unknown extra fields are ignored, never relayed', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'hi', from: '@spoofed0', extra: { a: 1 }, replay: true });
  const msg = await bob.next('MSG');
  t.is(msg.from, alice.agentId);
  t.is(msg.extra, undefined);
  t.is(msg.replay, undefined);
});

// A 10 KB frame nesting 5,000 arrays plus a suspect key once overflowed the stack in the
// forbidden-key scan and took the relay process down (it runs in a child process here).
test('a deeply nested frame with a suspect key is answered, and the relay keeps serving', async (t) => {
  const relay = await startRelayProcess(t);
  const nested = '['.repeat(5000) + ']'.repeat(5000);
  for (const text of [
    `{"type":"PING","nest":${nested},"\\u0062":1}`,
    `{"type":"PING","nest":${nested},"constructor":1}`,
  ]) {
    const c = await connect(t, relay.port);
    c.sendRaw(text);
    const answer = await c.next(['ERROR', 'PONG']);
    t.true(answer.type === 'PONG' || answer.code === 'INVALID_MSG');
    await c.ping();
  }
  const other = await connect(t, relay.port);
  await other.ping();
  t.is(relay.child.exitCode, null);
});
