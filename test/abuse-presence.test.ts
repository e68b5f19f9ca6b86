/**
 * No amplification through presence: JOIN/LEAVE toggles draw from their own bucket
 * (fakelag), and on large channels AGENT_JOINED/LEFT are batched, a toggle inside a
 * batch cancelling out.
 */
import test from 'ava';
import { connectAs, NO_ADDRESS_LIMITS, startRelay, type RelayClient } from './helpers/relay-client.js';

test('JOIN/LEAVE toggles are rate-limited like messages, with retry_after_ms; MSG still flows', async (t) => {
  const relay = await startRelay(t, { rateJoin: { burst: 4, perSec: 0.01 } });
  const toggler = await connectAs(t, relay, 'toggler');
  for (let i = 0; i < 3; i++) toggler.send({ type: i % 2 === 0 ? 'JOIN' : 'LEAVE', channel: '#agents' });
  await toggler.join('#general');
  toggler.send({ type: 'LEAVE', channel: '#general' });
  const refused = await toggler.next('ERROR');
  t.like(refused, { code: 'RATE_LIMITED', ref: 'LEAVE' });
  t.true(Number(refused.retry_after_ms) > 0);
  toggler.send({ type: 'MSG', to: '#general', content: 'still a member, still talking' });
  t.is((await toggler.next('MSG')).content, 'still a member, still talking');
});

test('on a large channel presence is batched: one frame names every joiner, and a join-leave toggle makes none', async (t) => {
  const relay = await startRelay(t, { presenceBatchAbove: 3, presenceBatchMs: 1000, pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const members: RelayClient[] = [];
  for (let i = 0; i < 4; i++) {
    const m = await connectAs(t, relay, `member${i}`);
    await m.join('#general');
    members.push(m);
  }
  const watcher = members[0];
  await watcher.ping();
  watcher.received.length = 0;
  const newcomers: RelayClient[] = [];
  for (let i = 0; i < 3; i++) newcomers.push(await connectAs(t, relay, `new${i}`));
  for (const n of newcomers) n.send({ type: 'JOIN', channel: '#general' });
  const toggler = await connectAs(t, relay, 'toggler');
  for (let i = 0; i < 10; i++) toggler.send({ type: i % 2 === 0 ? 'JOIN' : 'LEAVE', channel: '#general' });
  for (const n of newcomers) await n.next('JOINED');
  await toggler.next('LEFT', (f) => f.channel === '#general');
  // Everything above is sent within one batch window (1 s from the first change), so one batch holds it all.
  const batch = await watcher.next('AGENT_JOINED', (f) => Array.isArray(f.agents), 5000);
  t.deepEqual([...(batch.agents as string[])].sort(), newcomers.map((n) => n.agentId!).sort(), 'one frame names every joiner');
  t.is(batch.agent, (batch.agents as string[])[0], '0.3.x clients read `agent`: the first of them');
  await watcher.ping();
  const presence = watcher.received.filter((f) => f.type === 'AGENT_JOINED' || f.type === 'AGENT_LEFT');
  t.is(presence.length, 1, `the toggler's 10 frames made no presence frame: ${presence.map((f) => f.type).join(',')}`);
});
