import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { AgentChatClient, backoffDelay, generateIdentity } from '../client/index.js';
import type { MsgFrame } from '../protocol/index.js';
import { connectClient, startRelay } from './helpers/cli.js';
import { tcpFront } from './helpers/tcp-front.js';

test('backoff is full jitter under an exponential cap', (t) => {
  const options = { initialMs: 100, maxMs: 1000 };
  t.is(backoffDelay(0, options, () => 0.999), 99);
  t.is(backoffDelay(3, options, () => 0.5), 400);
  t.is(backoffDelay(20, options, () => 0.999), 999);
  t.is(backoffDelay(5, options, () => 0), 0);
});

test('after a relay restart at the same address the client re-identifies and re-joins its channels', async (t) => {
  // The relay's own port cannot be bound again right after it closed with clients connected
  // (TIME_WAIT), so the "same address" is a front on a fixed port, restarted in front of the
  // new relay. The client dials the front: a proof names that URL, so the relays list it as theirs.
  const front = await tcpFront(t);
  const url = front.url;
  const asFront = { pluginOptions: { identity: { publicUrls: [url] } } };
  const first = await startRelay(t, asFront);
  front.retarget(first.port);
  const identity = generateIdentity('phoenix');
  const client = new AgentChatClient({ server: url, identity, reconnect: { initialMs: 20, maxMs: 100 }, requestTimeoutMs: 3000 });
  t.teardown(() => client.disconnect());
  await client.connect();
  await client.join('#general');
  await client.join('#agents');

  const dropped = once(client, 'disconnect');
  await first.close();
  await front.close();
  t.true((await dropped)[0].willReconnect);

  const rejoined = once(client, 'rejoined') as Promise<[string[]]>;
  const second = await startRelay(t, asFront);
  await tcpFront(t, second.port, front.port);
  const [channels] = await rejoined;
  t.deepEqual([...channels].sort(), ['#agents', '#general']);
  t.is(client.agentId, identity.agentId, 'same persistent id after reconnect');

  const other = await connectClient(t, second.url);
  await other.join('#general');
  const received = once(client, 'message') as Promise<[MsgFrame]>;
  await other.send('#general', 'welcome back');
  t.like((await received)[0], { from: other.agentId, content: 'welcome back' });
  t.deepEqual((await other.listAgents('#agents')).list, [client.agentId!]);
});

test('reconnect gives up after maxAttempts', async (t) => {
  const relay = await startRelay(t);
  const client = new AgentChatClient({ server: relay.url, reconnect: { initialMs: 5, maxMs: 10, maxAttempts: 2 } });
  t.teardown(() => client.disconnect());
  await client.connect();
  const failed = once(client, 'reconnect_failed') as Promise<[{ attempts: number }]>;
  await relay.close();
  t.is((await failed)[0].attempts, 2);
  t.false(client.connected);
});

test('disconnect() stops reconnecting', async (t) => {
  const relay = await startRelay(t);
  const client = new AgentChatClient({ server: relay.url, reconnect: true });
  await client.connect();
  const dropped = once(client, 'disconnect');
  await client.disconnect();
  t.false((await dropped)[0].willReconnect);
  t.false(client.connected);
});
