/**
 * Membership and routing as clients see them: JOIN/LEAVE, channel fan-out
 * (sender included), DMs (target + echo), presence events, PING/PONG, and the
 * refusals of each.
 */
import test from 'ava';
import { connect, connectAs, expectRefused, newKeyPair, startRelay, type RelayClient } from './helpers/relay-client.js';

test('JOINED lists the joiner itself and the members already there', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const first = await alice.join('#general');
  t.deepEqual(first.agents, [alice.agentId]);
  t.is(typeof first.ts, 'number');
  const bob = await connectAs(t, relay, 'bob');
  const second = await bob.join('#general');
  t.deepEqual([...(second.agents as string[])].sort(), [alice.agentId, bob.agentId].sort());
});

test('AGENT_JOINED tells the other members, not the joiner', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const event = await alice.next('AGENT_JOINED');
  t.is(event.channel, '#general');
  t.is(event.agent, bob.agentId);
  t.is(event.name, 'bob');
  await bob.ping();
  t.is(bob.pending('AGENT_JOINED').length, 0);
});

test('JOIN of a channel one is already in answers JOINED again without telling the others twice', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  await alice.next('AGENT_JOINED');
  const again = await bob.join('#general');
  t.is(again.channel, '#general');
  await alice.ping();
  t.is(alice.pending('AGENT_JOINED').length, 0);
  t.is(relay.api.channels.get('#general')?.members.size, 2);
});

test('a channel MSG reaches every member including the sender, and nobody else', async (t) => {
  const relay = await startRelay(t);
  const [alice, bob, carol, outsider] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => connectAs(t, relay, n)));
  for (const c of [alice, bob, carol]) await c.join('#general');
  await outsider.join('#agents');
  alice.send({ type: 'MSG', to: '#general', content: 'hello all' });
  for (const c of [alice, bob, carol]) {
    const msg = await c.next('MSG');
    t.is(msg.from, alice.agentId);
    t.is(msg.to, '#general');
    t.is(msg.content, 'hello all');
    t.is(typeof msg.ts, 'number');
    t.false('sig' in msg);
    t.false('replay' in msg);
  }
  await outsider.ping();
  t.is(outsider.pending('MSG').length, 0);
  // Exactly one copy each.
  for (const c of [alice, bob, carol]) {
    await c.ping();
    t.is(c.pending('MSG').length, 0);
  }
});

test('a DM reaches the target and is echoed to the sender, nobody else', async (t) => {
  const relay = await startRelay(t);
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => connectAs(t, relay, n)));
  for (const c of [alice, bob, carol]) await c.join('#general');
  alice.send({ type: 'MSG', to: bob.agentId, content: 'psst' });
  const received = await bob.next('MSG');
  const echo = await alice.next('MSG');
  for (const msg of [received, echo]) {
    t.is(msg.from, alice.agentId);
    t.is(msg.to, bob.agentId);
    t.is(msg.content, 'psst');
  }
  await carol.ping();
  t.is(carol.pending('MSG').length, 0);
});

test('a DM to oneself arrives once', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'MSG', to: alice.agentId, content: 'note to self' });
  const msg = await alice.next('MSG');
  t.is(msg.content, 'note to self');
  await alice.ping();
  t.is(alice.pending('MSG').length, 0);
});

test('messages from one sender arrive in the order sent', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 100, perSec: 100 } });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  for (let i = 0; i < 50; i++) alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
  const got: unknown[] = [];
  for (let i = 0; i < 50; i++) got.push((await bob.next('MSG')).content);
  t.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
});

test('LEAVE answers LEFT, tells the others AGENT_LEFT, and stops channel messages', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  bob.send({ type: 'LEAVE', channel: '#general' });
  const left = await bob.next('LEFT');
  t.is(left.channel, '#general');
  const event = await alice.next('AGENT_LEFT');
  t.is(event.channel, '#general');
  t.is(event.agent, bob.agentId);
  alice.send({ type: 'MSG', to: '#general', content: 'after bob left' });
  await alice.next('MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
  t.is(bob.pending('AGENT_LEFT').length, 0);
  t.false(relay.api.channels.get('#general')!.members.has(bob.agentId));
});

test('a disconnect tells the other members of each of its channels AGENT_LEFT', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await alice.join('#agents');
  await bob.join('#general');
  await bob.join('#agents');
  await bob.close();
  const events = [await alice.next('AGENT_LEFT'), await alice.next('AGENT_LEFT')];
  t.deepEqual(events.map((e) => e.channel).sort(), ['#agents', '#general']);
  t.true(events.every((e) => e.agent === bob.agentId));
  t.is(relay.api.sessions.byAgentId(bob.agentId), undefined);
});

test('a MSG to a channel one has not joined is refused with NOT_INVITED and not relayed', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'drive-by' });
  await expectRefused(t, alice, 'NOT_INVITED', 'MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('a MSG to a channel that does not exist is refused with CHANNEL_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'MSG', to: '#nowhere', content: 'hello?' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'MSG');
});

test('a DM to an agent that is not connected is refused with AGENT_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'MSG', to: '@zzzzzzzz', content: 'anyone?' });
  await expectRefused(t, alice, 'AGENT_NOT_FOUND', 'MSG');
  t.is(alice.pending('MSG').length, 0);
});

test('a DM to an agent that disconnected is refused with AGENT_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await bob.close();
  alice.send({ type: 'MSG', to: bob.agentId, content: 'gone?' });
  await expectRefused(t, alice, 'AGENT_NOT_FOUND', 'MSG');
});

test('a MSG target that is neither a channel nor an agent id is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  for (const to of ['general', '@short', '#bad name', '', '@toolongid1']) {
    alice.send({ type: 'MSG', to, content: 'x' });
    await expectRefused(t, alice, 'INVALID_MSG', 'MSG');
  }
});

test('JOIN of a channel that does not exist is refused with CHANNEL_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'JOIN', channel: '#nowhere' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'JOIN');
  t.is(relay.api.channels.get('#nowhere'), undefined);
});

test('channel names are case-sensitive', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'JOIN', channel: '#General' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'JOIN');
});

const INVALID_CHANNELS: unknown[] = ['general', '#', '#' + 'a'.repeat(32), '#has space', '#ümlaut', '##x', 5, null];

test('JOIN, LEAVE and LIST_AGENTS of an invalid channel name are refused with INVALID_NAME', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  for (const type of ['JOIN', 'LEAVE', 'LIST_AGENTS']) {
    for (const channel of INVALID_CHANNELS) {
      alice.send({ type, channel });
      await expectRefused(t, alice, 'INVALID_NAME', type);
    }
  }
});

test('a channel name of 31 characters after # is valid', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const name = '#' + 'A_b-9'.repeat(7).slice(0, 31);
  alice.send({ type: 'CREATE_CHANNEL', channel: name });
  const joined = await alice.next('JOINED');
  t.is(joined.channel, name);
});

test('LEAVE of a channel one is not in is refused with NOT_INVITED', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'LEAVE', channel: '#general' });
  await expectRefused(t, alice, 'NOT_INVITED', 'LEAVE');
});

test('LEAVE of a channel that does not exist is refused with CHANNEL_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'LEAVE', channel: '#nowhere' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'LEAVE');
});

test('PING is answered with PONG carrying ts', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const before = Date.now();
  const pong = await alice.ping();
  t.is(pong.type, 'PONG');
  t.true(Number(pong.ts) >= before - 1000 && Number(pong.ts) <= Date.now() + 1000);
});

test('every frame the relay sends carries ts', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { history: { size: 5 } } });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  const all: RelayClient[] = [alice, bob];
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'for history' });
  await alice.next('MSG');
  await bob.join('#general'); // JOINED + replay
  alice.send({ type: 'MSG', to: bob.agentId, content: 'dm' });
  await bob.next('MSG', (f) => f.content === 'dm');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#stamped', invite_only: true });
  await alice.next('JOINED', (f) => f.channel === '#stamped');
  alice.send({ type: 'INVITE', channel: '#stamped', agent: bob.agentId });
  await alice.next('INVITED');
  await bob.next('MSG', (f) => String(f.content).includes('invited'));
  for (const type of ['LIST_CHANNELS', 'PING']) alice.send({ type });
  alice.send({ type: 'LIST_AGENTS', channel: '#general' });
  alice.send({ type: 'WHOIS', agent: bob.agentId });
  alice.send({ type: 'JOIN', channel: '#nowhere' });
  await alice.next('ERROR');
  await alice.next('WHOIS');
  bob.send({ type: 'LEAVE', channel: '#general' });
  await bob.next('LEFT');
  await alice.next('AGENT_LEFT');
  const keyed = await connect(t, relay);
  all.push(keyed);
  keyed.send({ type: 'IDENTIFY', name: 'keyed', pubkey: newKeyPair().publicKey });
  await keyed.next('CHALLENGE');
  for (const c of all) await c.ping();
  const frames = all.flatMap((c) => c.received);
  const types = new Set(frames.map((f) => f.type));
  for (const type of ['WELCOME', 'JOINED', 'MSG', 'AGENT_JOINED', 'AGENT_LEFT', 'LEFT', 'CHANNELS', 'AGENTS', 'WHOIS', 'INVITED', 'ERROR', 'PONG', 'CHALLENGE']) {
    t.true(types.has(type), `saw a ${type}`);
  }
  t.true(frames.some((f) => f.replay === true), 'saw a replayed MSG');
  const unstamped = frames.filter((f) => typeof f.ts !== 'number' || !Number.isFinite(f.ts));
  t.deepEqual(unstamped, []);
  t.deepEqual(all.flatMap((c) => c.malformed), []);
});
