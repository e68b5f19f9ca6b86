/**
 * channels plugin: built-in channels, CREATE_CHANNEL (public and invite-only),
 * INVITE, and reclaiming empty user channels after channelIdleMs.
 */
import test from 'ava';
import type { Relay } from '../kernel/index.js';
import { connectAs, expectedAgentId, expectRefused, newKeyPair, startRelay } from './helpers/relay-client.js';

/** Poll a relay-side condition that a timer makes true; bounded, so a failure is a clear message. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const channelNames = (relay: Relay) => [...relay.api.channels.values()].map((c) => c.name);

test('#general and #agents exist at start', async (t) => {
  const relay = await startRelay(t);
  t.deepEqual(channelNames(relay).sort(), ['#agents', '#general']);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  await alice.join('#agents');
});

test('CREATE_CHANNEL makes the creator join at once', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#lab' });
  const joined = await alice.next('JOINED');
  t.is(joined.channel, '#lab');
  t.deepEqual(joined.agents, [alice.agentId]);
  alice.send({ type: 'MSG', to: '#lab', content: 'first!' });
  t.is((await alice.next('MSG')).content, 'first!');
  const bob = await connectAs(t, relay, 'bob');
  const bobJoined = await bob.join('#lab');
  t.deepEqual([...(bobJoined.agents as string[])].sort(), [alice.agentId, bob.agentId].sort());
});

test('CREATE_CHANNEL of an existing channel is refused with CHANNEL_EXISTS', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#lab' });
  await alice.next('JOINED');
  const bob = await connectAs(t, relay, 'bob');
  for (const channel of ['#lab', '#general', '#agents']) {
    bob.send({ type: 'CREATE_CHANNEL', channel });
    await expectRefused(t, bob, 'CHANNEL_EXISTS', 'CREATE_CHANNEL');
  }
  t.is(relay.api.channels.get('#lab')?.createdBy, alice.agentId);
  t.false(relay.api.channels.get('#lab')!.members.has(bob.agentId));
});

test('CREATE_CHANNEL with an invalid name is refused with INVALID_NAME', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  for (const channel of ['lab', '#', '#' + 'x'.repeat(32), '#sp ace', '#dot.ted']) {
    alice.send({ type: 'CREATE_CHANNEL', channel });
    await expectRefused(t, alice, 'INVALID_NAME', 'CREATE_CHANNEL');
  }
  t.is(relay.api.channels.size, 2);
});

test('an invite-only channel refuses JOIN without an invitation with NOT_INVITED', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#secret', invite_only: true });
  const joined = await alice.next('JOINED');
  t.deepEqual(joined.agents, [alice.agentId]);
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'JOIN', channel: '#secret' });
  await expectRefused(t, bob, 'NOT_INVITED', 'JOIN');
  bob.send({ type: 'MSG', to: '#secret', content: 'let me in' });
  await expectRefused(t, bob, 'NOT_INVITED', 'MSG');
  await alice.ping();
  t.is(alice.pending('AGENT_JOINED').length, 0);
  t.is(alice.pending('MSG').length, 0);
});

test('INVITE by a member: the invitee gets a MSG "You have been invited to #chan", the inviter gets INVITED, then the invitee may join', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#secret', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#secret', agent: bob.agentId });
  const invited = await alice.next('INVITED');
  t.is(invited.channel, '#secret');
  t.is(invited.agent, bob.agentId);
  const notice = await bob.next('MSG');
  t.is(notice.from, alice.agentId);
  t.is(notice.to, bob.agentId);
  t.true(String(notice.content).includes('You have been invited to #secret'));
  const joined = await bob.join('#secret');
  t.deepEqual([...(joined.agents as string[])].sort(), [alice.agentId, bob.agentId].sort());
  t.is((await alice.next('AGENT_JOINED')).agent, bob.agentId);
  bob.send({ type: 'MSG', to: '#secret', content: 'thanks' });
  t.is((await alice.next('MSG', (f) => f.to === '#secret')).content, 'thanks');
});

test('the creator of an invite-only channel is invited: it may leave and join again', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#mine', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#mine', agent: bob.agentId });
  await alice.next('INVITED');
  await bob.join('#mine');
  alice.send({ type: 'LEAVE', channel: '#mine' });
  await alice.next('LEFT');
  const again = await alice.join('#mine');
  t.deepEqual([...(again.agents as string[])].sort(), [alice.agentId, bob.agentId].sort());
});

test('an invitation survives leaving: the invitee may join again', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#secret', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#secret', agent: bob.agentId });
  await alice.next('INVITED');
  await bob.join('#secret');
  bob.send({ type: 'LEAVE', channel: '#secret' });
  await bob.next('LEFT');
  const again = await bob.join('#secret');
  t.true((again.agents as string[]).includes(bob.agentId));
});

test('an invited id need not be online: the invitation is remembered until it connects', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const futureId = expectedAgentId(keys.publicKey);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#secret', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#secret', agent: futureId });
  t.is((await alice.next('INVITED')).agent, futureId);
  const bob = await connectAs(t, relay, 'bob', keys);
  t.is(bob.agentId, futureId);
  await bob.join('#secret');
});

test('INVITE by a non-member is refused with NOT_INVITED and nobody is told', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  const carol = await connectAs(t, relay, 'carol');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#secret', invite_only: true });
  await alice.next('JOINED');
  bob.send({ type: 'INVITE', channel: '#secret', agent: carol.agentId });
  await expectRefused(t, bob, 'NOT_INVITED', 'INVITE');
  bob.send({ type: 'INVITE', channel: '#general', agent: carol.agentId });
  await expectRefused(t, bob, 'NOT_INVITED', 'INVITE');
  await carol.ping();
  t.is(carol.pending('MSG').length, 0);
  carol.send({ type: 'JOIN', channel: '#secret' });
  await expectRefused(t, carol, 'NOT_INVITED', 'JOIN');
});

test('INVITE to a channel that does not exist is refused with CHANNEL_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'INVITE', channel: '#nowhere', agent: '@abcdef12' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'INVITE');
});

test('INVITE of something that is not an agent id is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (const agent of ['bob', '@short', '#general', '']) {
    alice.send({ type: 'INVITE', channel: '#general', agent });
    await expectRefused(t, alice, 'INVALID_MSG', 'INVITE');
  }
});

test('invitations past maxInvitesPerChannel are refused with LIMIT_EXCEEDED; repeating one is not', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { maxInvitesPerChannel: 2 } } });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#club' });
  await alice.next('JOINED');
  for (const agent of ['@aaaaaaa1', '@aaaaaaa2']) {
    alice.send({ type: 'INVITE', channel: '#club', agent });
    await alice.next('INVITED');
  }
  alice.send({ type: 'INVITE', channel: '#club', agent: '@aaaaaaa3' });
  await expectRefused(t, alice, 'LIMIT_EXCEEDED', 'INVITE');
  alice.send({ type: 'INVITE', channel: '#club', agent: '@aaaaaaa1' });
  t.is((await alice.next('INVITED')).agent, '@aaaaaaa1');
});

test('an empty user channel is reclaimed after channelIdleMs; built-ins never are', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { channelIdleMs: 50 } } });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#temp' });
  await alice.next('JOINED');
  alice.send({ type: 'LEAVE', channel: '#temp' });
  await alice.next('LEFT');
  await eventually(() => relay.api.channels.get('#temp') === undefined, '#temp is reclaimed');
  t.deepEqual(channelNames(relay).sort(), ['#agents', '#general']);
  alice.send({ type: 'JOIN', channel: '#temp' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'JOIN');
  alice.send({ type: 'LIST_CHANNELS' });
  const list = (await alice.next('CHANNELS')).list as Array<{ name: string }>;
  t.deepEqual(list.map((c) => c.name).sort(), ['#agents', '#general']);
  // The name is free again.
  alice.send({ type: 'CREATE_CHANNEL', channel: '#temp' });
  await alice.next('JOINED');
});

test('a user channel with members is not reclaimed while an empty one is', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { channelIdleMs: 50 } } });
  const alice = await connectAs(t, relay, 'alice');
  for (const channel of ['#busy', '#idle']) {
    alice.send({ type: 'CREATE_CHANNEL', channel });
    await alice.next('JOINED', (f) => f.channel === channel);
  }
  alice.send({ type: 'LEAVE', channel: '#idle' });
  await alice.next('LEFT');
  await eventually(() => relay.api.channels.get('#idle') === undefined, '#idle is reclaimed');
  // Several sweeps later the occupied channel is still there.
  const sweeps = Date.now() + 200;
  await eventually(() => Date.now() > sweeps, '200 ms passed');
  t.truthy(relay.api.channels.get('#busy'));
  alice.send({ type: 'MSG', to: '#busy', content: 'still here' });
  await alice.next('MSG');
});

test('a user channel emptied by a disconnect is reclaimed', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { channelIdleMs: 50 } } });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#ghost', invite_only: true });
  await alice.next('JOINED');
  await alice.close();
  await eventually(() => relay.api.channels.get('#ghost') === undefined, '#ghost is reclaimed');
  // Its invitations went with it: a recreated #ghost starts clean.
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'CREATE_CHANNEL', channel: '#ghost' });
  await bob.next('JOINED');
  t.false(relay.api.channels.get('#ghost')!.inviteOnly);
});

test('a reclaimed channel no longer counts against its creator\'s channel bound', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { channelIdleMs: 50, maxCreatedPerAgent: 3 } } });
  const alice = await connectAs(t, relay, 'alice');
  for (const channel of ['#c1', '#c2', '#c3']) {
    alice.send({ type: 'CREATE_CHANNEL', channel });
    await alice.next('JOINED');
    alice.send({ type: 'LEAVE', channel });
    await alice.next('LEFT');
  }
  await eventually(() => relay.api.channels.size === 2, 'all three are reclaimed');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#c4' });
  t.is((await alice.next('JOINED')).channel, '#c4');
});
