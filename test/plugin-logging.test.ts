/**
 * logging plugin: one JSON line per lifecycle event, captured through the
 * `log` option; never a line per message unless logMessages is on.
 */
import test, { type ExecutionContext } from 'ava';
import type { RelayOptions } from '../relay.js';
import { connectAs, newKeyPair, startRelay } from './helpers/relay-client.js';

interface LogLine {
  t: string;
  level: string;
  event: string;
  [field: string]: unknown;
}

async function loggedRelay(t: ExecutionContext, options: RelayOptions = {}) {
  const raw: string[] = [];
  const relay = await startRelay(t, { ...options, log: (line) => raw.push(line) });
  const lines = () => raw.map((line) => JSON.parse(line) as LogLine);
  const events = (event: string) => lines().filter((l) => l.event === event);
  return { relay, raw, lines, events };
}

/** Wait (bounded) for a log line the relay writes after a client-visible event. */
async function eventually<T>(get: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('every log line is one JSON object with t, level and event', async (t) => {
  const { relay, raw } = await loggedRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  t.true(raw.length > 0);
  for (const line of raw) {
    t.false(line.includes('\n'));
    const parsed = JSON.parse(line) as LogLine;
    t.false(Number.isNaN(Date.parse(parsed.t)));
    t.true(['info', 'warn', 'error'].includes(parsed.level));
    t.is(typeof parsed.event, 'string');
  }
});

test('start is logged once listening, with the bound port and whether uWS is native', async (t) => {
  const { relay, events } = await loggedRelay(t, { serverName: 'logged' });
  const [start] = events('start');
  t.truthy(start);
  t.is(start.port, relay.port);
  t.is(start.host, '127.0.0.1');
  t.is(start.native, true);
  t.is(start.server, 'logged');
});

test('connect, identify, join, leave and disconnect are logged with the session and agent', async (t) => {
  const { relay, events } = await loggedRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'LEAVE', channel: '#general' });
  await alice.next('LEFT');
  await alice.join('#agents');
  await alice.close();
  const disconnect = await eventually(() => events('disconnect')[0], 'a disconnect line');
  const [connect] = events('connect');
  const [identify] = events('identify');
  t.is(connect.ip, '127.0.0.1');
  t.is(identify.agent, alice.agentId);
  t.is(identify.name, 'alice');
  t.is(identify.session, connect.session);
  t.deepEqual(events('join').map((l) => [l.channel, l.agent]), [['#general', alice.agentId], ['#agents', alice.agentId]]);
  t.deepEqual(events('leave').map((l) => [l.channel, l.cause]), [['#general', 'leave'], ['#agents', 'disconnect']]);
  t.is(disconnect.agent, alice.agentId);
  t.is(disconnect.code, 1000);
});

test('a keyed identify is logged as verified', async (t) => {
  const { relay, events } = await loggedRelay(t);
  await connectAs(t, relay, 'alice', newKeyPair());
  const [identify] = events('identify');
  t.is(identify.verified, true);
  t.is(identify.key, true);
});

test('no line is written per message, and message content never reaches the log by default', async (t) => {
  const { relay, raw, events } = await loggedRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  const before = raw.length;
  for (let i = 0; i < 5; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `secret-content-${i}` });
    await bob.next('MSG');
  }
  alice.send({ type: 'MSG', to: bob.agentId, content: 'secret-dm' });
  await bob.next('MSG');
  t.is(raw.length, before);
  t.false(raw.some((line) => line.includes('secret-')));
  t.is(events('message').length, 0);
});

test('with logMessages a delivered message is logged with its content', async (t) => {
  const { relay, events } = await loggedRelay(t, { pluginOptions: { logging: { logMessages: true } } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'please log me' });
  await alice.next('MSG');
  const [message] = events('message');
  t.truthy(message);
  t.is(message.content, 'please log me');
  t.is(message.to, '#general');
  t.is(message.agent, alice.agentId);
  t.is(message.signed, false);
});

test('rate limiting is logged as rate_limited', async (t) => {
  const { relay, events } = await loggedRelay(t, { rateMsg: { burst: 1, perSec: 0.01 } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'one' });
  alice.send({ type: 'MSG', to: '#general', content: 'two' });
  await alice.error('RATE_LIMITED');
  const [line] = events('rate_limited');
  t.truthy(line);
  t.is(line.level, 'warn');
  t.is(line.agent, alice.agentId);
  t.is(line.ref, 'MSG');
});

test('refusals are logged, but a flood cannot flood the log', async (t) => {
  const { relay, events } = await loggedRelay(t, { floodMaxRefusals: 1000 });
  const alice = await connectAs(t, relay, 'alice');
  for (let i = 0; i < 50; i++) alice.sendRaw('junk');
  for (let i = 0; i < 50; i++) await alice.error('INVALID_MSG');
  const refused = events('refused');
  t.true(refused.length >= 1);
  t.true(refused.length <= 10, `${refused.length} refusal lines for 50 refusals`);
  t.is(refused[0].code, 'INVALID_MSG');
});

test('a slow consumer is logged as slow_consumer', async (t) => {
  const { relay, events } = await loggedRelay(t, { slowConsumerBytes: 64 * 1024, slowConsumerCheckMs: 20, rateMsg: { burst: 1e6, perSec: 1e6 } });
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  for (let i = 0; relay.api.stats.slowConsumers === 0; i++) {
    if (i > 100_000) throw new Error('no slow consumer detected');
    publisher.send({ type: 'MSG', to: slow.agentId, content: 'w'.repeat(4000) });
    await publisher.next('MSG');
  }
  const [line] = events('slow_consumer');
  t.truthy(line);
  t.is(line.agent, slow.agentId);
  t.is(line.code, 'SLOW_CONSUMER');
  const disconnect = events('disconnect').find((l) => l.agent === slow.agentId);
  t.is(disconnect?.code, 1008);
});

test('channel creation and reclaiming are logged', async (t) => {
  const { relay, events } = await loggedRelay(t, { pluginOptions: { channels: { channelIdleMs: 30 } } });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#logged', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'LEAVE', channel: '#logged' });
  await alice.next('LEFT');
  const deleted = await eventually(() => events('channel_delete').find((l) => l.channel === '#logged'), 'a channel_delete line');
  t.truthy(deleted);
  const created = events('channel_create').find((l) => l.channel === '#logged');
  t.is(created?.by, alice.agentId);
  t.is(created?.invite_only, true);
});

test('stop is logged on close with the counters', async (t) => {
  const { relay, events } = await loggedRelay(t);
  await connectAs(t, relay, 'alice');
  await relay.close();
  const [stop] = events('stop');
  t.truthy(stop);
  t.is(stop.connections, 1);
});
