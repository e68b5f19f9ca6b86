/**
 * Churn: 1,000 connections identify, join, message and leave in waves. Afterwards
 * every table is back where it started (no leaked session, member or channel),
 * and a long-lived observer saw every arrival and departure.
 */
import test from 'ava';
import { connect, newKeyPair, NO_ADDRESS_LIMITS, startRelay, type RelayClient } from './helpers/relay-client.js';

const WAVES = 10;
const PER_WAVE = 100;
/** Every tenth churner has a key, so proof of possession and the key index churn too. */
const KEYED_EVERY = 10;

test('1,000 connections in waves leave sessions, members and channels as they found them', async (t) => {
  t.timeout(30_000);
  // All 1,000 come from 127.0.0.1: the per-address limits are off, as in the bench.
  const relay = await startRelay(t, { pluginOptions: { channels: { channelIdleMs: 50 }, limits: NO_ADDRESS_LIMITS } });
  const observer = await connect(t, relay);
  await observer.identify('observer');
  await observer.join('#general');

  const start = {
    sessions: relay.api.sessions.size,
    identified: relay.api.sessions.identifiedCount,
    channels: relay.api.channels.size,
    members: new Map([...relay.api.channels.values()].map((c) => [c.name, c.members.size])),
  };
  let joinedSeen = 0;
  let leftSeen = 0;

  for (let wave = 0; wave < WAVES; wave++) {
    const room = `#wave-${wave}`;
    const clients: RelayClient[] = await Promise.all(
      Array.from({ length: PER_WAVE }, async (_, i) => {
        const c = await connect(t, relay, 10_000);
        await c.identify(`w${wave}-a${i}`, i % KEYED_EVERY === 0 ? newKeyPair() : undefined);
        return c;
      }),
    );
    // One creates the wave's room; then everyone joins it and #general.
    clients[0].send({ type: 'CREATE_CHANNEL', channel: room });
    await clients[0].next('JOINED', (f) => f.channel === room);
    await Promise.all(clients.map(async (c, i) => {
      if (i > 0) await c.join(room);
      await c.join('#general');
    }));
    // Everyone talks once in the room and hears all PER_WAVE messages.
    for (const [i, c] of clients.entries()) c.send({ type: 'MSG', to: room, content: `wave ${wave} from ${i}` });
    await Promise.all(clients.map(async (c) => {
      for (let k = 0; k < PER_WAVE; k++) await c.next('MSG', (f) => f.to === room);
    }));
    // Half leave politely first; then everyone disconnects.
    await Promise.all(clients.map(async (c, i) => {
      if (i % 2 === 0) {
        c.send({ type: 'LEAVE', channel: '#general' });
        await c.next('LEFT');
      }
      await c.close();
    }));
    // The observer hears every arrival and departure in #general.
    for (let k = 0; k < PER_WAVE; k++) {
      await observer.next('AGENT_JOINED');
      joinedSeen++;
    }
    for (let k = 0; k < PER_WAVE; k++) {
      await observer.next('AGENT_LEFT');
      leftSeen++;
    }
  }

  t.is(joinedSeen, WAVES * PER_WAVE);
  t.is(leftSeen, WAVES * PER_WAVE);
  t.is(relay.api.stats.connections, WAVES * PER_WAVE + 1);
  t.is(relay.api.sessions.size, start.sessions);
  t.is(relay.api.sessions.identifiedCount, start.identified);
  for (const [name, size] of start.members) t.is(relay.api.channels.get(name)?.members.size, size, `${name} members`);
  // The wave rooms are empty now and get reclaimed.
  const deadline = Date.now() + 5000;
  while (relay.api.channels.size !== start.channels && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(relay.api.channels.size, start.channels);
  observer.send({ type: 'LIST_AGENTS', channel: '#general' });
  t.deepEqual((await observer.next('AGENTS')).list, [observer.agentId]);
  t.is(relay.api.stats.pluginErrors, 0);
  t.is(relay.api.stats.slowConsumers, 0);
  t.is(relay.api.stats.rateLimited, 0);
});
