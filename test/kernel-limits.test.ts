/**
 * Every bound is a clear ERROR, never unbounded growth: rate limits, flooding,
 * sessions, channels, channels per agent, and slow consumers.
 */
import test from 'ava';
import { connect, connectAs, expectRefused, startRelay, upgrade, type RelayClient } from './helpers/relay-client.js';
import type { Relay } from '../kernel/index.js';
import { corePlugins } from '../plugins/index.js';
import { echoPlugin } from './fixtures/echo-plugin.js';

test('a burst past the MSG rate limit is refused with RATE_LIMITED and retry_after_ms, and not relayed', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 3, perSec: 1 } });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  for (let i = 0; i < 4; i++) alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
  const error = await expectRefused(t, alice, 'RATE_LIMITED', 'MSG');
  t.is(typeof error.retry_after_ms, 'number');
  t.true(Number(error.retry_after_ms) > 0 && Number(error.retry_after_ms) <= 1000, `retry_after_ms ${String(error.retry_after_ms)}`);
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((m) => m.content), ['m0', 'm1', 'm2']);
  t.is(relay.api.stats.rateLimited, 1);
});

test('by default a burst of 10 MSGs passes and the 11th is RATE_LIMITED', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (let i = 0; i < 11; i++) alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
  const error = await expectRefused(t, alice, 'RATE_LIMITED', 'MSG');
  t.true(Number(error.retry_after_ms) > 0 && Number(error.retry_after_ms) <= 1000);
  t.is(alice.pending('MSG').length, 10);
});

test('a rate-limited sender is accepted again after retry_after_ms', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 1, perSec: 20 } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'first' });
  alice.send({ type: 'MSG', to: '#general', content: 'too soon' });
  const error = await alice.error('RATE_LIMITED');
  // The token bucket refills with time: waiting is the behaviour under test.
  await new Promise((resolve) => setTimeout(resolve, Number(error.retry_after_ms) + 20));
  alice.send({ type: 'MSG', to: '#general', content: 'later' });
  t.is((await alice.next('MSG')).content, 'first');
  t.is((await alice.next('MSG')).content, 'later');
});

test('other frames draw from their own bucket: a PING burst is limited, MSG still flows', async (t) => {
  const relay = await startRelay(t, { rateOther: { burst: 3, perSec: 1 } });
  const c = await connect(t, relay);
  for (let i = 0; i < 4; i++) c.send({ type: 'PING' });
  for (let i = 0; i < 3; i++) await c.next('PONG');
  const error = await c.error('RATE_LIMITED');
  t.is(error.ref, 'PING');
  t.true(Number(error.retry_after_ms) > 0);
  // The MSG bucket is untouched (IDENTIFY is refused by the other bucket, so use a second relay client).
  const relay2 = await startRelay(t, { rateOther: { burst: 3, perSec: 1 } });
  const alice = await connectAs(t, relay2, 'alice'); // 1 token
  await alice.join('#general'); // the JOIN/LEAVE bucket, not this one
  alice.send({ type: 'PING' }); // 2 tokens
  alice.send({ type: 'PING' }); // 3 tokens
  alice.send({ type: 'PING' });
  await alice.error('RATE_LIMITED');
  alice.send({ type: 'MSG', to: '#general', content: 'still allowed' });
  t.is((await alice.next('MSG')).content, 'still allowed');
});

test('a client that keeps getting refused is closed with 1008 after floodMaxRefusals', async (t) => {
  const relay = await startRelay(t, { floodMaxRefusals: 5 });
  const bystander = await connectAs(t, relay, 'bystander');
  const c = await connectAs(t, relay, 'flooder');
  for (let i = 0; i < 20; i++) c.sendRaw('garbage');
  const closed = await c.closed;
  t.is(closed.code, 1008);
  const errors = c.received.filter((f) => f.type === 'ERROR');
  t.is(errors.filter((e) => e.code === 'INVALID_MSG').length, 6);
  t.is(errors.at(-1)?.code, 'RATE_LIMITED');
  t.is(relay.api.stats.floodCloses, 1);
  await bystander.ping();
  t.is(relay.api.sessions.size, 1);
});

test('refusals up to floodMaxRefusals do not close the session', async (t) => {
  const relay = await startRelay(t, { floodMaxRefusals: 5 });
  const c = await connectAs(t, relay, 'clumsy');
  for (let i = 0; i < 5; i++) c.sendRaw('garbage');
  for (let i = 0; i < 5; i++) await c.error('INVALID_MSG');
  await c.ping();
  t.true(c.isOpen);
  t.is(relay.api.stats.floodCloses, 0);
});

test('a client that keeps bursting past the rate limit is disconnected with 1008, nothing more relayed', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 2, perSec: 1 }, floodMaxRefusals: 10 });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  for (let i = 0; i < 50; i++) alice.send({ type: 'MSG', to: '#general', content: `spam${i}` });
  t.is((await alice.closed).code, 1008);
  await bob.next('AGENT_LEFT');
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((m) => m.content), ['spam0', 'spam1']);
  t.is(relay.api.stats.floodCloses, 1);
});

test('an upgrade past maxSessions is answered 503 before any session exists; a freed slot is usable again', async (t) => {
  const relay = await startRelay(t, { maxSessions: 2 });
  const a = await connectAs(t, relay, 'a');
  await connectAs(t, relay, 'b');
  const refused = await upgrade(t, relay.port);
  t.is(refused.status, 503);
  t.regex(refused.body, /UNAVAILABLE: this relay is at its limit of 2 sessions/);
  t.is(relay.api.sessions.size, 2);
  t.is(relay.api.stats.refusals.max_sessions, 1);
  await a.close();
  const d = await connectAs(t, relay, 'd');
  await d.ping();
  t.is(relay.api.sessions.size, 2);
});

test('CREATE_CHANNEL past maxChannels is refused with LIMIT_EXCEEDED', async (t) => {
  // The two built-in channels count.
  const relay = await startRelay(t, { maxChannels: 3 });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#one' });
  await alice.next('JOINED');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#two' });
  await expectRefused(t, alice, 'LIMIT_EXCEEDED', 'CREATE_CHANNEL');
  t.is(relay.api.channels.size, 3);
  t.is(relay.api.channels.get('#two'), undefined);
});

test('JOIN past maxChannelsPerAgent is refused with LIMIT_EXCEEDED until one is left', async (t) => {
  const relay = await startRelay(t, { maxChannelsPerAgent: 2 });
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'CREATE_CHANNEL', channel: '#third' });
  await bob.next('JOINED');
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  await alice.join('#agents');
  alice.send({ type: 'JOIN', channel: '#third' });
  await expectRefused(t, alice, 'LIMIT_EXCEEDED', 'JOIN');
  t.false(relay.api.channels.get('#third')!.members.has(alice.agentId));
  await bob.ping();
  t.is(bob.pending('AGENT_JOINED').length, 0);
  alice.send({ type: 'LEAVE', channel: '#agents' });
  await alice.next('LEFT');
  await alice.join('#third');
});

test('CREATE_CHANNEL past maxCreatedPerAgent channels created and still existing is refused with LIMIT_EXCEEDED', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { maxCreatedPerAgent: 2 } } });
  const alice = await connectAs(t, relay, 'alice');
  for (const channel of ['#a1', '#a2']) {
    alice.send({ type: 'CREATE_CHANNEL', channel });
    await alice.next('JOINED');
    alice.send({ type: 'LEAVE', channel });
    await alice.next('LEFT');
  }
  alice.send({ type: 'CREATE_CHANNEL', channel: '#a3' });
  await expectRefused(t, alice, 'LIMIT_EXCEEDED', 'CREATE_CHANNEL');
  t.is(relay.api.channels.get('#a3'), undefined);
});

// Regression (fixed in 975ced6): the channel was created before the creator's JOIN was refused.
test('a CREATE_CHANNEL refused because the creator is at its channel limit leaves no channel behind', async (t) => {
  const relay = await startRelay(t, { maxChannelsPerAgent: 2 });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  await alice.join('#agents');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#orphan' });
  await expectRefused(t, alice, 'LIMIT_EXCEEDED', 'CREATE_CHANNEL');
  alice.send({ type: 'LIST_CHANNELS' });
  const list = (await alice.next('CHANNELS')).list as Array<{ name: string }>;
  t.false(list.some((c) => c.name === '#orphan'), 'the refused channel is not listed');
  t.is(relay.api.channels.get('#orphan'), undefined);
});

// ---- slow consumers -----------------------------------------------------------

const SLOW = { slowConsumerBytes: 64 * 1024, slowConsumerCheckMs: 20, rateMsg: { burst: 1_000_000, perSec: 1_000_000 } };

/** Send `content` to `to`, each time awaiting the echo, until the relay has closed a slow consumer. */
async function publishUntilSlow(relay: Relay, publisher: RelayClient, to: string, content: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  let sent = 0;
  while (relay.api.stats.slowConsumers === 0) {
    if (Date.now() > deadline || sent > 100_000) throw new Error(`no slow consumer detected after ${sent} messages`);
    publisher.send({ type: 'MSG', to, content });
    await publisher.next('MSG');
    sent++;
  }
  return sent;
}

/** A client that stops reading: its socket is paused, so the relay's buffer for it grows. */
const pause = (c: RelayClient) => (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
const resume = (c: RelayClient) => (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();

test('a channel member that stops reading is closed as a slow consumer; the publisher is unaffected', async (t) => {
  const relay = await startRelay(t, SLOW);
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  await slow.join('#general');
  await publisher.join('#general');
  pause(slow);
  await publishUntilSlow(relay, publisher, '#general', 'x'.repeat(4000));
  t.is(relay.api.stats.slowConsumers, 1);
  t.is(relay.api.sessions.size, 1);
  t.is(relay.api.sessions.byAgentId(slow.agentId), undefined);
  t.false(relay.api.channels.get('#general')!.members.has(slow.agentId));
  await publisher.ping();
  publisher.send({ type: 'MSG', to: '#general', content: 'life goes on' });
  await publisher.next('MSG', (f) => f.content === 'life goes on');
  resume(slow);
  const closed = await slow.closed;
  t.not(closed.code, 1000);
  t.is(relay.api.stats.slowConsumers, 1, 'counted once');
});

test('a DM target that stops reading sees everything sent before ERROR SLOW_CONSUMER, then close 1008', async (t) => {
  const relay = await startRelay(t, SLOW);
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  pause(slow);
  const sent = await publishUntilSlow(relay, publisher, slow.agentId, 'y'.repeat(4000));
  t.is(relay.api.sessions.size, 1);
  resume(slow);
  const closed = await slow.closed;
  t.is(closed.code, 1008);
  const last = slow.received.at(-1)!;
  t.is(last.type, 'ERROR');
  t.is(last.code, 'SLOW_CONSUMER');
  t.is(slow.received.filter((f) => f.type === 'MSG').length, sent);
  t.is(relay.api.stats.slowConsumers, 1);
  await publisher.ping();
});

// Regression (fixed in 975ced6): a timer-only check let a paced publisher overrun uWS's headroom,
// so SLOW_CONSUMER and the close frame were dropped (the client saw 1006).
test('a channel member that stops reading, then reads on, sees ERROR SLOW_CONSUMER before close 1008', async (t) => {
  // The default check interval (100 ms); 16 KB messages make the overshoot certain on any machine.
  const relay = await startRelay(t, { ...SLOW, slowConsumerCheckMs: 100, maxContentChars: 20_000 });
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  await slow.join('#general');
  await publisher.join('#general');
  pause(slow);
  await publishUntilSlow(relay, publisher, '#general', 'z'.repeat(16_000));
  resume(slow);
  const closed = await slow.closed;
  const last = slow.received.at(-1)!;
  t.is(last.code, 'SLOW_CONSUMER', `last frame: ${last.type} ${String(last.code ?? '')}`);
  t.is(closed.code, 1008);
});

// Per-channel checks alone would let a member of many busy channels receive K x slowCheckEvery
// frames unchecked; members of more than a few channels are also checked relay-wide. The timer
// backstop is set to 60 s to show the counted checks alone.
test('a member of many busy channels that stops reading, then reads on, sees ERROR SLOW_CONSUMER before close 1008', async (t) => {
  const K = 200;
  const relay = await startRelay(t, {
    ...SLOW,
    slowConsumerCheckMs: 60_000,
    rateOther: { burst: 1_000_000, perSec: 1_000_000 },
    rateJoin: { burst: 1_000_000, perSec: 1_000_000 },
    maxChannelsPerAgent: K + 10,
    // One publisher makes all K rooms at once: the per-address creation quotas are off here.
    pluginOptions: { channels: { maxCreatedPerAgent: K + 10, createsPerMinute: 0, maxCreatedPerIp: K + 10 } },
  });
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  const rooms = Array.from({ length: K }, (_, i) => `#room${i}`);
  for (const room of rooms) publisher.send({ type: 'CREATE_CHANNEL', channel: room });
  for (const room of rooms) await publisher.next('JOINED', (f) => f.channel === room);
  for (const room of rooms) slow.send({ type: 'JOIN', channel: room });
  for (const room of rooms) await slow.next('JOINED', (f) => f.channel === room);
  pause(slow);
  // The largest content the kernel lets through: 16 KiB once JSON-escaped (6 bytes a character).
  const content = '\u0001'.repeat(Math.floor(relay.config.maxContentBytes / 6));
  const deadline = Date.now() + 10_000;
  for (let i = 0; relay.api.stats.slowConsumers === 0; i++) {
    if (Date.now() > deadline) throw new Error(`no slow consumer detected after ${i} messages`);
    publisher.send({ type: 'MSG', to: rooms[i % K], content });
    await publisher.next('MSG');
  }
  resume(slow);
  const closed = await slow.closed;
  const last = slow.received.at(-1)!;
  t.is(last.code, 'SLOW_CONSUMER', `last frame: ${last.type} ${String(last.code ?? '')}`);
  t.is(closed.code, 1008);
});

// Frames a plugin publishes (and AGENT_JOINED/AGENT_LEFT) go through the same counted checks as
// MSG fan-out. The sweep is set to 60 s to show the counted checks alone.
test('a member fed by a plugin\'s relay.publish that stops reading is closed as a counted slow consumer, SLOW_CONSUMER first', async (t) => {
  const relay = await startRelay(t, { ...SLOW, slowConsumerCheckMs: 60_000, plugins: [...corePlugins(), echoPlugin()] });
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  await slow.join('#general');
  await publisher.join('#general');
  pause(slow);
  const text = 'n'.repeat(4000);
  for (let i = 0; relay.api.sessions.byAgentId(slow.agentId) !== undefined; i++) {
    if (i > 100_000) throw new Error('the slow member was never closed');
    publisher.send({ type: 'BROADCAST', channel: '#general', text });
    await publisher.next('NEWS');
  }
  resume(slow);
  const closed = await slow.closed;
  const last = slow.received.at(-1)!;
  t.is(relay.api.stats.slowConsumers, 1, 'counted as a slow consumer');
  t.is(last.code, 'SLOW_CONSUMER', `last frame: ${last.type} ${String(last.code ?? '')}`);
  t.is(closed.code, 1008);
});
