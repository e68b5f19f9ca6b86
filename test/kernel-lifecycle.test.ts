/** Relay lifecycle: native uWS, listening on an ephemeral port, graceful close. */
import test from 'ava';
import WebSocket from 'ws';
import { createRelay } from '../relay.js';
import { connect, connectAs, startRelay } from './helpers/relay-client.js';

test('uWS runs natively on this machine', async (t) => {
  const relay = await startRelay(t);
  t.true(relay.native);
});

test('port 0 binds an ephemeral port that relay.port reports', async (t) => {
  const relay = await startRelay(t);
  t.true(relay.port > 0 && relay.port < 65536);
  const c = await connect(t, relay);
  await c.ping();
  t.is(relay.api.stats.connections, 1);
});

test('two relays on port 0 get different ports', async (t) => {
  const [a, b] = await Promise.all([startRelay(t), startRelay(t)]);
  t.not(a.port, b.port);
});

test('relay.close() closes every client with 1001', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  const anonymous = await connect(t, relay);
  await alice.join('#general');
  await bob.join('#general');
  await relay.close();
  const closes = await Promise.all([alice.closed, bob.closed, anonymous.closed]);
  t.deepEqual(closes.map((c) => c.code), [1001, 1001, 1001]);
  t.is(relay.api.sessions.size, 0);
});

test('after close the relay accepts no connection, and close is idempotent', async (t) => {
  const relay = createRelay({ port: 0, host: '127.0.0.1', log: false });
  await relay.listen();
  const port = relay.port;
  await relay.close();
  await relay.close();
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  const outcome = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? 'error'));
  });
  ws.terminate();
  t.is(outcome, 'ECONNREFUSED');
});

test('a plain HTTP request gets 426 instead of a hanging socket', async (t) => {
  const relay = await startRelay(t);
  const response = await fetch(`http://127.0.0.1:${relay.port}/`);
  t.is(response.status, 426);
  t.regex(await response.text(), /WebSocket/);
});

test('any path upgrades to the relay', async (t) => {
  const relay = await startRelay(t);
  const ws = new WebSocket(`ws://127.0.0.1:${relay.port}/some/path?x=1`);
  t.teardown(() => ws.terminate());
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'PING' }));
  const data = await new Promise<string>((resolve) => ws.once('message', (raw) => resolve(raw.toString())));
  t.is(JSON.parse(data).type, 'PONG');
});
