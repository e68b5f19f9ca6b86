/**
 * The cluster: three relays on one real Redis behave, to their clients, as one relay.
 * Each test starts its own redis-server and relays; the clients sit on different relays.
 */
import type { ExecutionContext } from 'ava';
import type { Relay } from '../kernel/index.js';
import { clusterCounts } from '../plugins/index.js';
import { acceptSigningString, completeSigningString, disputeSigningString, proposalSigningString, signString } from '../protocol/index.js';
import type { RelayOptions } from '../relay.js';
import { RedisStore } from '../store/index.js';
import { act } from './helpers/moderation.js';
import { connect, connectAs, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, startRelay, type RelayClient } from './helpers/relay-client.js';
import { redisTest as test, startRedis } from './helpers/redis.js';

/** Liveness scaled down, so a dead relay is noticed in about a second. */
const FAST = { heartbeatMs: 100, deadAfterMs: 1_000 };

async function cluster(t: ExecutionContext, n = 3, options: RelayOptions = {}): Promise<{ relays: Relay[]; url: string }> {
  const redis = await startRedis(t);
  const relays: Relay[] = [];
  for (let i = 0; i < n; i++) {
    relays.push(await startRelay(t, {
      redis: redis.url, serverName: `relay-${i}`, rateMsg: { burst: 200, perSec: 200 }, ...options,
      pluginOptions: { limits: NO_ADDRESS_LIMITS, cluster: FAST, ...options.pluginOptions },
    }));
  }
  return { relays, url: redis.url };
}

test('a channel spans relays: JOINED lists every member, presence crosses, messages reach every relay with members', async (t) => {
  const { relays: [a, b, c] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice');
  const bob = await connectAs(t, b, 'bob');
  const carol = await connectAs(t, c, 'carol');
  await bob.join('#general');
  const joined = await alice.join('#general');
  t.deepEqual([...(joined.agents as string[])].sort(), [alice.agentId, bob.agentId].sort(), 'JOINED names the member on the other relay');
  const seen = await bob.next('AGENT_JOINED');
  t.is(seen.agent, alice.agentId);

  alice.send({ type: 'MSG', to: '#general', content: 'hello from A' });
  const atBob = await bob.next('MSG');
  const echo = await alice.next('MSG');
  t.is(atBob.content, 'hello from A');
  t.is(atBob.from, alice.agentId);
  t.is(typeof atBob.msg_id, 'number');
  t.is(echo.msg_id, atBob.msg_id, 'the sender is acknowledged with the same msg_id');

  // carol's relay has no member of #general: it received none of its traffic.
  t.is(clusterCounts(c.api).receivedByChannel.get('#general') ?? 0, 0);
  t.is(clusterCounts(a.api).receivedByChannel.get('#general'), 1);
  t.is(clusterCounts(b.api).receivedByChannel.get('#general'), 1);
  const scrape = async (relay: Relay) => (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  t.regex(await scrape(c), /^agentchat_cluster_channel_messages_received_total 0$/m, 'and /metrics says so');
  t.regex(await scrape(b), /^agentchat_cluster_channel_messages_received_total 1$/m);
  t.regex(await scrape(a), /^agentchat_cluster_publish_seconds_total \d/m, 'the cluster\'s latency');
  t.regex(await scrape(a), /^agentchat_store_operation_seconds_count\{op="tail"\} [1-9]/m, 'and the Redis store\'s (the JOIN read the shared history)');

  // Lists are cluster-wide, asked from the relay with no member there.
  carol.send({ type: 'LIST_AGENTS', channel: '#general' });
  t.deepEqual([...((await carol.next('AGENTS')).list as string[])], [alice.agentId, bob.agentId].sort());
  carol.send({ type: 'LIST_CHANNELS' });
  const list = (await carol.next('CHANNELS')).list as Array<{ name: string; agents: number }>;
  t.is(list.find((ch) => ch.name === '#general')?.agents, 2);

  // A leave crosses too, and JOINED on a third relay has it.
  alice.send({ type: 'LEAVE', channel: '#general' });
  await alice.next('LEFT');
  t.is((await bob.next('AGENT_LEFT')).agent, alice.agentId);
  const third = await carol.join('#general');
  t.deepEqual([...(third.agents as string[])].sort(), [bob.agentId, carol.agentId].sort());
});

test('a DM reaches the relay that holds its target and only it; an agent on no relay is AGENT_NOT_FOUND', async (t) => {
  const { relays: [a, b, c] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice');
  const bob = await connectAs(t, b, 'bob');
  await connectAs(t, c, 'carol');
  const before = clusterCounts(c.api).forwardedReceived;
  alice.send({ type: 'MSG', to: bob.agentId, content: 'psst' });
  const dm = await bob.next('MSG');
  t.is(dm.content, 'psst');
  t.is(dm.from, alice.agentId);
  t.is((await alice.next('MSG')).content, 'psst', 'echoed to the sender once delivered');
  t.is(clusterCounts(c.api).forwardedReceived, before, 'the third relay saw nothing of it');
  alice.send({ type: 'MSG', to: '@nobody12', content: 'hello?' });
  await expectRefused(t, alice, 'AGENT_NOT_FOUND');
});

test('history and resume are cluster-wide: a joiner anywhere gets the replay, and JOIN since a msg_id replays what came after it', async (t) => {
  const { relays: [a, b, c] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice');
  await alice.join('#general');
  const ids: number[] = [];
  for (let i = 1; i <= 5; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
    ids.push(Number((await alice.next('MSG')).msg_id));
  }
  t.deepEqual(ids, [...ids].sort((x, y) => x - y), 'msg_ids increase');
  const bob = await connectAs(t, b, 'bob');
  await bob.join('#general');
  const replay = [];
  for (let i = 0; i < 5; i++) replay.push(await bob.next('MSG'));
  t.deepEqual(replay.map((m) => m.content), ['m1', 'm2', 'm3', 'm4', 'm5']);
  t.true(replay.every((m) => m.replay === true));

  const carol = await connectAs(t, c, 'carol');
  carol.send({ type: 'JOIN', channel: '#general', since: ids[1] });
  await carol.next('JOINED');
  const resumed = [await carol.next('MSG'), await carol.next('MSG'), await carol.next('MSG')];
  t.deepEqual(resumed.map((m) => m.msg_id), ids.slice(2));
  const history = await carol.next('HISTORY');
  t.is(history.count, 3);
  t.is(history.incomplete, false);
  t.is(history.last_msg_id, ids[4]);

  const dave = await connectAs(t, c, 'dave');
  dave.send({ type: 'JOIN', channel: '#general', history: 0 });
  await dave.next('JOINED');
  await dave.ping();
  t.is(dave.pending('MSG').length, 0, 'history: 0 replays nothing');
});

test('invite-only channels hold across relays: made on one, refused then invited and joined on another', async (t) => {
  const { relays: [a, b] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice', newKeyPair());
  const bob = await connectAs(t, b, 'bob', newKeyPair());
  alice.send({ type: 'CREATE_CHANNEL', channel: '#secret', invite_only: true });
  await alice.next('JOINED');
  // Relay B may not have had the change notice yet: it asks the store before it refuses.
  bob.send({ type: 'JOIN', channel: '#secret' });
  t.is((await bob.next('ERROR')).code, 'NOT_INVITED');
  alice.send({ type: 'INVITE', channel: '#secret', agent: bob.agentId });
  await alice.next('INVITED');
  t.is((await bob.next('MSG')).content, 'You have been invited to #secret', 'the 0.3.x invitation notice crosses relays');
  await bob.join('#secret');
  t.is((await alice.next('AGENT_JOINED')).agent, bob.agentId);
});

test('a proposal and its acceptance cross relays, signed and committed', async (t) => {
  const { relays: [a, b] } = await cluster(t);
  const aliceKeys = newKeyPair();
  const bobKeys = newKeyPair();
  const alice = await connectAs(t, a, 'alice', aliceKeys);
  const bob = await connectAs(t, b, 'bob', bobKeys);
  const fields = { to: bob.agentId, task: 'review the cluster', amount: '5', currency: 'USD' };
  alice.send({ type: 'PROPOSAL', ...fields, sig: signString(aliceKeys.privateKey, proposalSigningString(fields)) });
  const proposal = await bob.next('PROPOSAL');
  t.is(proposal.from, alice.agentId);
  t.is((await alice.next('PROPOSAL')).id, proposal.id, 'the proposer learns the id');
  const id = String(proposal.id);
  bob.send({ type: 'ACCEPT', proposal_id: id, sig: signString(bobKeys.privateKey, acceptSigningString(id)) });
  const accepted = await alice.next('ACCEPT');
  t.is(accepted.proposal_id, id);
  t.is(accepted.status, 'accepted');
  t.is((await bob.next('ACCEPT')).status, 'accepted');
});

test('two parties stepping one proposal at once on two relays: one step is committed, the other refused, and both relays agree', async (t) => {
  const { relays: [a, b] } = await cluster(t);
  const aliceKeys = newKeyPair();
  const bobKeys = newKeyPair();
  const alice = await connectAs(t, a, 'alice', aliceKeys);
  const bob = await connectAs(t, b, 'bob', bobKeys);
  for (let round = 0; round < 5; round++) {
    const fields = { to: bob.agentId, task: `race ${round}` };
    alice.send({ type: 'PROPOSAL', ...fields, sig: signString(aliceKeys.privateKey, proposalSigningString(fields)) });
    const id = String((await bob.next('PROPOSAL')).id);
    await alice.next('PROPOSAL');
    bob.send({ type: 'ACCEPT', proposal_id: id, sig: signString(bobKeys.privateKey, acceptSigningString(id)) });
    await alice.next('ACCEPT');
    await bob.next('ACCEPT');
    alice.send({ type: 'COMPLETE', proposal_id: id, proof: 'done', sig: signString(aliceKeys.privateKey, completeSigningString(id, 'done')) });
    bob.send({ type: 'DISPUTE', proposal_id: id, reason: 'not done', sig: signString(bobKeys.privateKey, disputeSigningString(id, 'not done')) });
    const answers = await Promise.all([alice.next(['COMPLETE', 'DISPUTE', 'ERROR']), bob.next(['COMPLETE', 'DISPUTE', 'ERROR'])]);
    const statuses = async (client: RelayClient) => {
      client.send({ type: 'LIST_PROPOSALS' });
      return ((await client.next('PROPOSALS')).list as Array<{ id: string; status: string; steps: unknown[] }>).find((p) => p.id === id)!;
    };
    // Whatever each saw first, the record both relays hold is the same, with exactly one final step.
    const [atA, atB] = [await statuses(alice), await statuses(bob)];
    t.is(atA.status, atB.status);
    t.true(['completed', 'disputed'].includes(atA.status));
    t.is(atA.steps.length, 2, 'ACCEPT and one final step, never both');
    t.true(answers.some((f) => f.type === 'ERROR') || answers[0].type === answers[1].type, 'the loser was refused, or both saw the winner');
    alice.drain();
    bob.drain();
  }
});

test('a verified session for a key connected to another relay displaces it there', async (t) => {
  const { relays: [a, b] } = await cluster(t);
  const keys = newKeyPair();
  const first = await connectAs(t, a, 'twin', keys);
  const second = await connectAs(t, b, 'twin', keys);
  t.is(second.agentId, first.agentId);
  t.is((await first.next('SESSION_DISPLACED')).type, 'SESSION_DISPLACED');
  t.is((await first.closed).code, 4001);
  const watcher = await connectAs(t, a, 'watcher');
  watcher.send({ type: 'WHOIS', agent: second.agentId });
  const whois = await watcher.next('WHOIS');
  t.is(typeof whois.pubkey, 'string', 'WHOIS answers for an agent on another relay, with its key');
  t.is(whois.verified, true);
});

test('ordering: concurrent senders on three relays; every receiver sees each sender in order and msg_ids only rising', async (t) => {
  const { relays } = await cluster(t);
  const senders = await Promise.all(relays.map((relay, i) => connectAs(t, relay, `sender${i}`)));
  const receivers = await Promise.all(relays.map((relay, i) => connectAs(t, relay, `receiver${i}`)));
  for (const client of [...senders, ...receivers]) await client.join('#general');
  const perSender = 30;
  for (let n = 0; n < perSender; n++) for (const s of senders) s.send({ type: 'MSG', to: '#general', content: String(n) });
  const total = perSender * senders.length;
  const orders: string[][] = [];
  for (const r of receivers) {
    const got = [];
    for (let i = 0; i < total; i++) got.push(await r.next('MSG', (f) => f.replay !== true));
    const ids = got.map((m) => Number(m.msg_id));
    t.deepEqual(ids, [...ids].sort((x, y) => x - y), 'msg_ids only rise');
    for (const s of senders) {
      t.deepEqual(got.filter((m) => m.from === s.agentId).map((m) => Number(m.content)), [...Array(perSender).keys()], 'one sender in order');
    }
    orders.push(got.map((m) => `${String(m.msg_id)}:${String(m.from)}:${String(m.content)}`));
  }
  t.deepEqual(orders[1], orders[0], 'every relay delivered the same sequence');
  t.deepEqual(orders[2], orders[0]);
});

test('a channel made on one relay can be joined on another at once, and CHANNEL_EXISTS holds cluster-wide', async (t) => {
  const { relays: [a, b] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice');
  const bob = await connectAs(t, b, 'bob');
  for (let i = 0; i < 10; i++) {
    alice.send({ type: 'CREATE_CHANNEL', channel: `#new${i}` });
    await alice.next('JOINED', (f) => f.channel === `#new${i}`);
    const joined = await bob.join(`#new${i}`);
    t.deepEqual([...(joined.agents as string[])].sort(), [alice.agentId, bob.agentId].sort());
  }
  bob.send({ type: 'CREATE_CHANNEL', channel: '#new0' });
  await expectRefused(t, bob, 'CHANNEL_EXISTS');
});

test('a relay that missed the change notices still finds a channel and an invitation made elsewhere before it refuses a JOIN', async (t) => {
  const { relays: [a], url } = await cluster(t, 1);
  // Relay B never hears a change notice: only its re-read of the store can let bob in.
  const deaf = new RedisStore({ url });
  deaf.watch = () => {};
  const b = await startRelay(t, { redis: url, store: deaf, pluginOptions: { limits: NO_ADDRESS_LIMITS, cluster: FAST } });
  const alice = await connectAs(t, a, 'alice', newKeyPair());
  const bob = await connectAs(t, b, 'bob', newKeyPair());
  alice.send({ type: 'CREATE_CHANNEL', channel: '#hidden', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#hidden', agent: bob.agentId });
  await alice.next('INVITED');
  await bob.join('#hidden');
  t.is((await alice.next('AGENT_JOINED')).agent, bob.agentId);
});

test('two relays creating one channel name at once: one creator gets it, the other CHANNEL_EXISTS, and the loser can join the winner\'s', async (t) => {
  const { relays: [a, b] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice');
  const bob = await connectAs(t, b, 'bob');
  for (let round = 0; round < 10; round++) {
    const channel = `#race${round}`;
    alice.send({ type: 'CREATE_CHANNEL', channel, invite_only: true });
    bob.send({ type: 'CREATE_CHANNEL', channel, invite_only: true });
    const [fromA, fromB] = await Promise.all([
      alice.next(['JOINED', 'ERROR'], (f) => f.type === 'ERROR' || f.channel === channel),
      bob.next(['JOINED', 'ERROR'], (f) => f.type === 'ERROR' || f.channel === channel),
    ]);
    t.deepEqual([fromA.type, fromB.type].sort(), ['ERROR', 'JOINED'], `round ${round}: exactly one creator`);
    const [winner, loser] = fromA.type === 'JOINED' ? [alice, bob] : [bob, alice];
    t.is((fromA.type === 'ERROR' ? fromA : fromB).code, 'CHANNEL_EXISTS');
    // The winner's channel is invite-only on both relays: the loser needs an invitation.
    loser.send({ type: 'JOIN', channel });
    t.is((await loser.next('ERROR')).code, 'NOT_INVITED');
    winner.send({ type: 'INVITE', channel, agent: loser.agentId });
    await winner.next('INVITED');
    await loser.join(channel);
    alice.drain();
    bob.drain();
  }
});

test('invitations made at once on two relays to one channel are both kept', async (t) => {
  const { relays: [a, b, c] } = await cluster(t);
  const alice = await connectAs(t, a, 'alice');
  const carol = await connectAs(t, c, 'carol');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#club', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#club', agent: carol.agentId });
  await alice.next('INVITED');
  await carol.join('#club');
  for (let round = 0; round < 5; round++) {
    const guests = await Promise.all([connectAs(t, b, `guest${round}a`), connectAs(t, b, `guest${round}b`)]);
    alice.send({ type: 'INVITE', channel: '#club', agent: guests[0].agentId });
    carol.send({ type: 'INVITE', channel: '#club', agent: guests[1].agentId });
    await Promise.all([alice.next('INVITED'), carol.next('INVITED')]);
    for (const guest of guests) await guest.join('#club');
  }
  t.pass();
});

test('per-agent and per-address channel quotas are cluster-wide: what was made on one relay counts on the others', async (t) => {
  const { relays: [a, b] } = await cluster(t, 2, { pluginOptions: { channels: { maxCreatedPerIp: 2, createsPerMinute: 0 } } });
  const alice = await connectAs(t, a, 'alice');
  const bob = await connectAs(t, b, 'bob');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#q1' });
  await alice.next('JOINED');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#q2' });
  await alice.next('JOINED');
  // Same address (127.0.0.1), another relay: the quota is already used up.
  await bob.join('#q2');
  bob.send({ type: 'CREATE_CHANNEL', channel: '#q3' });
  t.like(await expectRefused(t, bob, 'LIMIT_EXCEEDED', 'CREATE_CHANNEL'), { reason: 'channels_per_ip' });
});

test('a hoster plugin works across relays: its publish reaches members everywhere, and its cache follows the store (examples/topic-plugin.mjs)', async (t) => {
  const example = '../examples/topic-plugin.mjs'; // plain JS with JSDoc types, checked by tsconfig.examples.json
  const { default: topics } = (await import(example)) as { default: import('../kernel/index.js').AnyPlugin };
  const { relays: [a, b] } = await cluster(t, 2, { extraPlugins: [topics] });
  const alice = await connectAs(t, a, 'alice');
  const bob = await connectAs(t, b, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'TOPIC', channel: '#general', topic: 'clusters' });
  t.like(await bob.next('TOPIC'), { channel: '#general', topic: 'clusters', by: alice.agentId });
  const carol = await connectAs(t, b, 'carol');
  carol.send({ type: 'TOPIC', channel: '#general' });
  t.is((await carol.next('TOPIC')).topic, 'clusters', 'relay B\'s cache heard of the change');
});

test('a ban made on one relay holds on the others at once: the live session there is closed, and the key refused', async (t) => {
  const adminKeys = newKeyPair();
  const { relays: [a, b] } = await cluster(t, 2, { pluginOptions: { moderation: { adminKeys: [adminKeys.publicKey] } } });
  const admin = await connectAs(t, a, 'operator', adminKeys);
  const spammerKeys = newKeyPair();
  const spammer = await connectAs(t, b, 'spammer', spammerKeys);
  t.like(await act(admin, adminKeys, { action: 'ban', key: spammerKeys.publicKey, reason: 'spam' }), { type: 'ADMIN_OK', action: 'ban' });
  t.like(await spammer.next('BANNED'), { reason: 'spam' });
  t.is((await spammer.closed).code, 4003);
  const again = await connect(t, b);
  await t.throwsAsync(again.identify('spammer', spammerKeys), { message: /BANNED/ });
  t.like(await act(admin, adminKeys, { action: 'unban', key: spammerKeys.publicKey }), { type: 'ADMIN_OK', action: 'unban' });
  // The lift reached relay B (its change notice went out before the operator's answer): the key is back.
  await connectAs(t, b, 'spammer', spammerKeys);
});

test('per-connection rate limits stay local to the relay that holds the connection', async (t) => {
  const { relays: [a] } = await cluster(t, 2, { rateMsg: { burst: 2, perSec: 0.01 } });
  const alice = await connectAs(t, a, 'alice');
  await alice.join('#general');
  for (let i = 0; i < 2; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `ok${i}` });
    await alice.next('MSG');
  }
  alice.send({ type: 'MSG', to: '#general', content: 'one too many' });
  await expectRefused(t, alice, 'RATE_LIMITED');
});
