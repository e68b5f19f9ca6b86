/** listing plugin: LIST_CHANNELS (public only, with member counts) and LIST_AGENTS. */
import test from 'ava';
import { connectAs, expectRefused, startRelay } from './helpers/relay-client.js';

test('LIST_CHANNELS lists public channels with their member counts; an invite-only one only to its members, marked private', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#open' });
  await alice.next('JOINED', (f) => f.channel === '#open');
  bob.send({ type: 'CREATE_CHANNEL', channel: '#hidden', invite_only: true });
  await bob.next('JOINED', (f) => f.channel === '#hidden');
  const publicChannels = [
    { name: '#agents', agents: 0 },
    { name: '#general', agents: 2 },
    { name: '#open', agents: 1 },
  ];
  const listed = async (asker: typeof alice) => {
    asker.send({ type: 'LIST_CHANNELS' });
    const list = (await asker.next('CHANNELS')).list as Array<{ name: string; agents: number }>;
    return [...list].sort((a, b) => a.name.localeCompare(b.name));
  };
  t.deepEqual(await listed(alice), publicChannels, 'a non-member never sees #hidden');
  t.deepEqual(await listed(bob), [...publicChannels, { name: '#hidden', agents: 1, private: true }].sort((a, b) => a.name.localeCompare(b.name)));
});

test('LIST_AGENTS lists the ids of a channel\'s members', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  const carol = await connectAs(t, relay, 'carol');
  await alice.join('#general');
  await bob.join('#general');
  // A non-member may list a public channel.
  carol.send({ type: 'LIST_AGENTS', channel: '#general' });
  const agents = await carol.next('AGENTS');
  t.is(agents.channel, '#general');
  t.deepEqual([...(agents.list as string[])].sort(), [alice.agentId, bob.agentId].sort());
  carol.send({ type: 'LIST_AGENTS', channel: '#agents' });
  t.deepEqual((await carol.next('AGENTS')).list, []);
});

test('LIST_AGENTS of an invite-only channel by a non-member is refused with NOT_INVITED', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#hidden', invite_only: true });
  await alice.next('JOINED');
  bob.send({ type: 'LIST_AGENTS', channel: '#hidden' });
  await expectRefused(t, bob, 'NOT_INVITED', 'LIST_AGENTS');
  t.is(bob.pending('AGENTS').length, 0);
  // Being invited is not enough; members may list.
  alice.send({ type: 'INVITE', channel: '#hidden', agent: bob.agentId });
  await alice.next('INVITED');
  bob.send({ type: 'LIST_AGENTS', channel: '#hidden' });
  await expectRefused(t, bob, 'NOT_INVITED', 'LIST_AGENTS');
  await bob.join('#hidden');
  bob.send({ type: 'LIST_AGENTS', channel: '#hidden' });
  t.deepEqual([...((await bob.next('AGENTS')).list as string[])].sort(), [alice.agentId, bob.agentId].sort());
});

test('LIST_AGENTS of a channel that does not exist is refused with CHANNEL_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'LIST_AGENTS', channel: '#nowhere' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'LIST_AGENTS');
});
