/**
 * Graceful drain (issue 13): SIGTERM to `agentchat serve` while messages flow stops
 * accepting, closes every session with 1001, flushes the written-behind history and
 * exits 0; after a restart on the same data dir every message a client saw relayed
 * before the close is in the history, none lost to the 100 ms write-behind window.
 */
import test from 'ava';
import { startServe, tempDir } from './helpers/cli.js';
import { connectAs } from './helpers/relay-client.js';

test('SIGTERM while messages flow closes sessions with 1001, flushes the store, and a restart replays every relayed message', async (t) => {
  const dir = await tempDir(t);
  const args = ['--data-dir', dir, '--rate-burst', '1000', '--rate-per-sec', '1000', '--max-conns-per-ip', '0', '--conn-rate-per-ip', '0'];
  const serve = await startServe(t, args);
  const sender = await connectAs(t, serve.port, 'sender');
  const listener = await connectAs(t, serve.port, 'listener');
  await listener.join('#general');
  await sender.join('#general');
  for (let i = 1; i <= 300; i++) sender.send({ type: 'MSG', to: '#general', content: `m${i}` });
  // Mid-flow: the signal lands while the relay is still relaying the burst.
  await listener.next('MSG', (m) => m.content === 'm20');
  serve.child.kill('SIGTERM');
  const [closed, code] = await Promise.all([listener.closed, serve.exited]);
  t.is(closed.code, 1001);
  t.is(code, 0, serve.stderr());
  const relayed = listener.received.filter((f) => f.type === 'MSG').map((m) => m.content);
  t.true(relayed.length >= 20);

  const again = await startServe(t, args);
  const reader = await connectAs(t, again.port, 'reader');
  reader.send({ type: 'JOIN', channel: '#general', since: 0 });
  await reader.next('JOINED');
  const history = await reader.next('HISTORY');
  const kept = reader.pending('MSG').map((m) => m.content);
  t.deepEqual(kept.slice(0, relayed.length), relayed, 'every message relayed before the close is kept, in order');
  t.is(history.count, kept.length);
});
