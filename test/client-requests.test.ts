import test from 'ava';
import { once } from 'node:events';
import { AgentChatClient, AgentChatError } from '../client/index.js';
import type { AgentJoinedFrame, ErrorFrame, MsgFrame } from '../protocol/index.js';
import { connectClient, startRelay } from './helpers/cli.js';

test('connect resolves with WELCOME and exposes the agent id', async (t) => {
  const relay = await startRelay(t);
  const client = new AgentChatClient({ server: relay.url, name: 'alice' });
  t.teardown(() => client.disconnect());
  const [welcome] = await Promise.all([client.connect(), once(client, 'connect')]);
  t.is(welcome.type, 'WELCOME');
  t.is(welcome.name, 'alice');
  t.regex(welcome.agent_id, /^@[a-z0-9]{8}$/);
  t.is(client.agentId, welcome.agent_id);
  t.true(client.connected);
});

test('join, listAgents, leave resolve with the relay answers and track channels', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url, { name: 'alice' });
  const bob = await connectClient(t, relay.url, { name: 'bob' });

  const joined = await alice.join('#general');
  t.is(joined.channel, '#general');
  t.true(joined.agents.includes(alice.agentId!));
  t.true(alice.channels.has('#general'));

  const seen = once(alice, 'agent_joined') as Promise<[AgentJoinedFrame]>;
  await bob.join('#general');
  const [agentJoined] = await seen;
  t.is(agentJoined.agent, bob.agentId!);

  const agents = await bob.listAgents('#general');
  t.deepEqual([...agents.list].sort(), [alice.agentId, bob.agentId].sort());

  const left = await bob.leave('#general');
  t.is(left.channel, '#general');
  t.false(bob.channels.has('#general'));
});

test('send resolves with the echo; members receive it as a message event', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url);
  const bob = await connectClient(t, relay.url);
  await alice.join('#general');
  await bob.join('#general');

  const received = once(bob, 'message') as Promise<[MsgFrame]>;
  const echo = await alice.send('#general', 'hello all');
  t.like(echo, { type: 'MSG', from: alice.agentId, to: '#general', content: 'hello all' });
  const [msg] = await received;
  t.like(msg, { from: alice.agentId, to: '#general', content: 'hello all' });
});

test('dm reaches the target and resolves with the echo to the sender', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url);
  const bob = await connectClient(t, relay.url);
  const received = once(bob, 'message') as Promise<[MsgFrame]>;
  const echo = await alice.dm(bob.agentId!.slice(1), 'psst');
  t.like(echo, { from: alice.agentId, to: bob.agentId, content: 'psst' });
  const [msg] = await received;
  t.like(msg, { from: alice.agentId, to: bob.agentId, content: 'psst' });
});

test('createChannel, invite, listChannels, ping and whois', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url, { name: 'alice' });
  const bob = await connectClient(t, relay.url, { name: 'bob' });

  const created = await alice.createChannel('#secret', true);
  t.is(created.channel, '#secret');
  t.true(alice.channels.has('#secret'));
  await t.throwsAsync(bob.join('#secret'), { instanceOf: AgentChatError, message: /invite-only/ });

  const note = once(bob, 'message') as Promise<[MsgFrame]>;
  const invited = await alice.invite('#secret', bob.agentId!);
  t.like(invited, { channel: '#secret', agent: bob.agentId });
  t.regex((await note)[0].content, /You have been invited to #secret/);
  t.is((await bob.join('#secret')).channel, '#secret');

  await alice.createChannel('#open');
  const channels = await bob.listChannels();
  const names = channels.list.map((c) => c.name);
  t.true(names.includes('#general') && names.includes('#open'));
  t.like(channels.list.find((c) => c.name === '#secret'), { private: true }, 'bob is a member: his private channel is listed, marked');
  const carol = await connectClient(t, relay.url, { name: 'carol' });
  t.false((await carol.listChannels()).list.some((c) => c.name === '#secret'), 'a non-member never sees it');

  t.is((await alice.ping()).type, 'PONG');
  const whois = await alice.whois(bob.agentId!);
  t.like(whois, { agent: bob.agentId, name: 'bob', pubkey: null });
});

test('refused requests reject with the relay code', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url);
  const notFound = await t.throwsAsync(alice.join('#nope'), { instanceOf: AgentChatError });
  t.is(notFound?.code, 'CHANNEL_NOT_FOUND');
  t.is(notFound?.frame?.ref, 'JOIN');
  const exists = await t.throwsAsync(alice.createChannel('#general'), { instanceOf: AgentChatError });
  t.is(exists?.code, 'CHANNEL_EXISTS');
  const badName = await t.throwsAsync(alice.join('general'), { instanceOf: AgentChatError });
  t.is(badName?.code, 'INVALID_NAME');
  const noAgent = await t.throwsAsync(alice.whois('@zzzzzzzz'), { instanceOf: AgentChatError });
  t.is(noAgent?.code, 'AGENT_NOT_FOUND');
});

test('RATE_LIMITED carries retry_after_ms and rejects only the refused send', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 2, perSec: 0.5 } });
  const alice = await connectClient(t, relay.url);
  await alice.join('#general');
  const results = await Promise.allSettled([alice.send('#general', 'a'), alice.send('#general', 'b'), alice.send('#general', 'c')]);
  t.is(results[0].status, 'fulfilled');
  t.is(results[1].status, 'fulfilled');
  t.is(results[2].status, 'rejected');
  const err = (results[2] as PromiseRejectedResult).reason as AgentChatError;
  t.is(err.code, 'RATE_LIMITED');
  t.true(typeof err.retry_after_ms === 'number' && err.retry_after_ms > 0);
});

test('concurrent requests of one type each get their own answer', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url);
  await Promise.all(['#c1', '#c2', '#c3'].map((c) => alice.createChannel(c)));
  const [a1, a2, bad, a3] = await Promise.allSettled([
    alice.listAgents('#c1'), alice.listAgents('#c2'), alice.join('#missing'), alice.listAgents('#c3'),
  ]);
  t.is(a1.status === 'fulfilled' && a1.value.channel, '#c1');
  t.is(a2.status === 'fulfilled' && a2.value.channel, '#c2');
  t.is(a3.status === 'fulfilled' && a3.value.channel, '#c3');
  t.is(bad.status === 'rejected' && (bad.reason as AgentChatError).code, 'CHANNEL_NOT_FOUND');

  await alice.join('#general');
  const echoes = await Promise.all(['one', 'two', 'three'].map((text) => alice.send('#general', text)));
  t.deepEqual(echoes.map((e) => e.content), ['one', 'two', 'three']);
  const [left1, left2] = await Promise.all([alice.leave('#c2'), alice.leave('#c1')]);
  t.deepEqual([left1.channel, left2.channel], ['#c2', '#c1']);
});

test('requests before connect reject with NOT_CONNECTED', async (t) => {
  const client = new AgentChatClient({ server: 'ws://127.0.0.1:1' });
  const err = await t.throwsAsync(client.join('#general'), { instanceOf: AgentChatError });
  t.is(err?.code, 'NOT_CONNECTED');
});

test('connect to a closed port rejects with DISCONNECTED naming the server', async (t) => {
  const relay = await startRelay(t);
  const url = relay.url;
  await relay.close();
  const client = new AgentChatClient({ server: url });
  const err = await t.throwsAsync(client.connect(), { instanceOf: AgentChatError });
  t.is(err?.code, 'DISCONNECTED');
  t.true(err?.message.includes(url));
});

test('an invalid name rejects connect with INVALID_NAME', async (t) => {
  const relay = await startRelay(t);
  const client = new AgentChatClient({ server: relay.url, name: 'not a name!' });
  t.teardown(() => client.disconnect());
  const err = await t.throwsAsync(client.connect(), { instanceOf: AgentChatError });
  t.is(err?.code, 'INVALID_NAME');
});

test('server_error reports an ERROR no request waited for; error is emitted only with a listener', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url);
  // A frame no method sends: its ERROR answers no pending request.
  const serverError = once(alice, 'server_error') as Promise<[ErrorFrame]>;
  alice.write({ type: 'BOGUS' });
  t.is((await serverError)[0].code, 'INVALID_MSG');
  t.is(alice.listenerCount('error'), 0, 'no listener and still alive');

  const error = once(alice, 'error') as Promise<[ErrorFrame]>;
  alice.write({ type: 'BOGUS' });
  const [frame] = await error;
  t.like(frame, { type: 'ERROR', code: 'INVALID_MSG', ref: 'BOGUS' });
  t.is((await alice.ping()).type, 'PONG');
});

test('a refusal that rejects a request is reported once: by the rejection, not as server_error or error', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url);
  const reported: string[] = [];
  alice.on('server_error', (f) => reported.push(`server_error ${f.code}`));
  alice.on('error', (f) => reported.push(`error ${f.code}`));
  const seen: string[] = [];
  alice.on('frame', (f) => f.type === 'ERROR' && seen.push(String(f.code)));
  await t.throwsAsync(alice.join('#nope'), { instanceOf: AgentChatError, message: /#nope/ });
  await t.throwsAsync(alice.whois('@nobody00'), { instanceOf: AgentChatError });
  await alice.ping(); // every ERROR the relay sent before PONG has arrived
  t.deepEqual(seen, ['CHANNEL_NOT_FOUND', 'AGENT_NOT_FOUND'], 'the frames did arrive');
  t.deepEqual(reported, []);
});
