import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { AgentChatClient, backoffDelay, generateIdentity } from '../client/index.js';
import type { MsgFrame } from '../protocol/index.js';
import { connectClient, startRelay } from './helpers/cli.js';

test('backoff is full jitter under an exponential cap', (t) => {
  const options = { initialMs: 100, maxMs: 1000 };
  t.is(backoffDelay(0, options, () => 0.999), 99);
  t.is(backoffDelay(3, options, () => 0.5), 400);
  t.is(backoffDelay(20, options, () => 0.999), 999);
  t.is(backoffDelay(5, options, () => 0), 0);
});

/**
 * A TCP forwarder on a fixed port in front of a relay. The relay's own port cannot be
 * bound again right after it closed with clients connected (its TIME_WAIT sockets
 * block the bind; see the report), so the "same address" the client returns to is
 * this forwarder's, restarted in front of the new relay.
 */
async function forwarder(t: ExecutionContext, targetPort: number | (() => number), port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(typeof targetPort === 'number' ? targetPort : targetPort(), '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const close = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  t.teardown(close);
  return { port: (server.address() as AddressInfo).port, close };
}

test('after a relay restart at the same address the client re-identifies and re-joins its channels', async (t) => {
  // The client dials the forwarder: a proof names that URL, so the relays list it as theirs.
  let target = 0;
  const front = await forwarder(t, () => target);
  const url = `ws://127.0.0.1:${front.port}`;
  const asFront = { pluginOptions: { identity: { publicUrls: [url] } } };
  const first = await startRelay(t, asFront);
  target = first.port;
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
  await forwarder(t, second.port, front.port);
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
