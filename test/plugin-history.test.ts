/** history plugin: the last N channel MSGs replayed after JOINED with replay:true. */
import test from 'ava';
import { connectAs, newKeyPair, signedMsg, startRelay } from './helpers/relay-client.js';

test('a joiner gets JOINED, then the last historySize channel messages in order, marked replay:true', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { history: { size: 3 } }, rateMsg: { burst: 100, perSec: 100 } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  const sent = [];
  for (let i = 1; i <= 5; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
    sent.push(await alice.next('MSG'));
  }
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'JOIN', channel: '#general' });
  await bob.next('JOINED');
  const replayed = [await bob.next('MSG'), await bob.next('MSG'), await bob.next('MSG')];
  t.deepEqual(replayed.map((m) => m.content), ['m3', 'm4', 'm5']);
  for (const [i, m] of replayed.entries()) {
    t.is(m.replay, true);
    t.is(m.from, alice.agentId);
    t.is(m.to, '#general');
    t.is(m.ts, sent[i + 2].ts, 'the original ts is kept');
  }
  // JOINED comes first, and nothing more is replayed.
  const types = bob.received.map((f) => f.type);
  t.true(types.indexOf('JOINED') < types.indexOf('MSG'));
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('fewer messages than historySize are all replayed', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { history: { size: 20 } } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (const content of ['one', 'two']) {
    alice.send({ type: 'MSG', to: '#general', content });
    await alice.next('MSG');
  }
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((m) => [m.content, m.replay]), [['one', true], ['two', true]]);
});

test('the default history is the last 20 messages', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 100, perSec: 100 } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (let i = 1; i <= 25; i++) alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
  for (let i = 1; i <= 25; i++) await alice.next('MSG');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((m) => m.content), Array.from({ length: 20 }, (_, i) => `m${i + 6}`));
});

test('live messages are not marked replay, and the sender\'s own echo is not either', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'live' });
  t.false('replay' in (await bob.next('MSG')));
  t.false('replay' in (await alice.next('MSG')));
});

test('history is per channel and DMs are never replayed', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await alice.join('#agents');
  alice.send({ type: 'MSG', to: '#general', content: 'in general' });
  alice.send({ type: 'MSG', to: '#agents', content: 'in agents' });
  alice.send({ type: 'MSG', to: bob.agentId, content: 'private' });
  await bob.next('MSG');
  for (let i = 0; i < 2; i++) await alice.next('MSG', (f) => f.to !== bob.agentId);
  const carol = await connectAs(t, relay, 'carol');
  await carol.join('#agents');
  await carol.ping();
  t.deepEqual(carol.pending('MSG').map((m) => m.content), ['in agents']);
});

test('refused messages are not kept in history', async (t) => {
  // The forged MSG takes a token too: the rate limit comes before any other check.
  const relay = await startRelay(t, { rateMsg: { burst: 2, perSec: 0.01 } });
  const alice = await connectAs(t, relay, 'alice', newKeyPair());
  await alice.join('#general');
  alice.send(signedMsg(newKeyPair(), '#general', 'forged'));
  await alice.error('INVALID_SIGNATURE');
  alice.send({ type: 'MSG', to: '#general', content: 'kept' });
  await alice.next('MSG');
  alice.send({ type: 'MSG', to: '#general', content: 'rate limited' });
  await alice.error('RATE_LIMITED');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((m) => m.content), ['kept']);
});

test('a replayed signed MSG keeps sig and sig_ts', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  await alice.join('#general');
  const sent = signedMsg(keys, '#general', 'signed for later');
  alice.send(sent);
  await alice.next('MSG');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const replayed = await bob.next('MSG');
  t.is(replayed.replay, true);
  t.is(replayed.sig, sent.sig);
  t.is(replayed.sig_ts, sent.ts);
});

test('historySize 0 replays nothing', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { history: { size: 0 } } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'gone' });
  await alice.next('MSG');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('a reclaimed channel takes its history with it', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { channelIdleMs: 30 } } });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#brief' });
  await alice.next('JOINED');
  alice.send({ type: 'MSG', to: '#brief', content: 'old news' });
  await alice.next('MSG');
  alice.send({ type: 'LEAVE', channel: '#brief' });
  await alice.next('LEFT');
  const deadline = Date.now() + 3000;
  while (relay.api.channels.get('#brief') !== undefined) {
    if (Date.now() > deadline) throw new Error('#brief was never reclaimed');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'CREATE_CHANNEL', channel: '#brief' });
  await bob.next('JOINED');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});
