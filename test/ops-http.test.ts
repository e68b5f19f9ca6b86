/**
 * HTTP on the relay's own port: /healthz, /readyz (flips when the store is unhealthy),
 * the JSON information document at /, and Prometheus /metrics whose counters move
 * with traffic; --metrics-token keeps /metrics private.
 */
import test from 'ava';
import { memoryStore, type Store } from '../store/index.js';
import { connectAs, expectRefused, newKeyPair, signedMsg, startRelay } from './helpers/relay-client.js';
import { startServe } from './helpers/cli.js';

const get = async (port: number, path: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
};

/** A metric's value in Prometheus text, by its exact series (name plus labels as printed). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

test('/healthz answers while the relay lives; /readyz says ready, and 503 with the reason when the store is not', async (t) => {
  let broken: string | null = null;
  const store: Store = { ...memoryStore(), health: () => broken };
  const relay = await startRelay(t, { store });
  t.like(await get(relay.port, '/healthz'), { status: 200, body: 'ok\n' });
  t.deepEqual(JSON.parse((await get(relay.port, '/readyz')).body), { ready: true });
  broken = 'the disk is full';
  const notReady = await get(relay.port, '/readyz');
  t.is(notReady.status, 503);
  t.deepEqual(JSON.parse(notReady.body), { ready: false, reason: 'store (memory): the disk is full' });
  broken = null;
  t.is((await get(relay.port, '/readyz')).status, 200);
});

test('GET / with Accept: application/json is the relay information document; otherwise a one-line hint', async (t) => {
  const relay = await startRelay(t, { serverName: 'hub', pluginOptions: { health: { publicUrls: ['wss://hub.example.org'] } } });
  const doc = await get(relay.port, '/', { accept: 'application/json' });
  t.is(doc.status, 200);
  t.regex(doc.type, /application\/json/);
  const info = JSON.parse(doc.body) as Record<string, unknown>;
  t.like(info, { name: 'hub', software: 'agentchat', public_urls: ['wss://hub.example.org'], limits: { max_payload_bytes: 65536, max_content_chars: 4096, rate_msg: { burst: 10, per_sec: 1 } } });
  t.regex(String(info.version), /^\d+\.\d+\.\d+/);
  t.true((info.extensions as string[]).includes('msg-id'));
  const plain = await get(relay.port, '/');
  t.is(plain.status, 426);
  t.regex(plain.body, /connect with a WebSocket client/);
  t.is((await get(relay.port, '/nope')).status, 426);
});

test('/metrics is Prometheus text whose counters move with traffic', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 100, perSec: 100 }, pluginOptions: { identity: { verifyInlineWhenIdle: false } } });
  const before = (await get(relay.port, '/metrics')).body;
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  for (let i = 0; i < 3; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `hi ${i}` });
    await bob.next('MSG');
  }
  alice.send(signedMsg(keys, '#general', 'signed'));
  await bob.next('MSG');
  alice.send({ type: 'JOIN', channel: '#nowhere' });
  await expectRefused(t, alice, 'CHANNEL_NOT_FOUND', 'JOIN');
  const scrape = await get(relay.port, '/metrics');
  t.is(scrape.status, 200);
  t.regex(scrape.type, /text\/plain/);
  const after = scrape.body;
  t.is(value(after, 'agentchat_sessions{state="identified"}'), 2);
  t.is(value(after, 'agentchat_frames_received_total{type="MSG"}') - value(before, 'agentchat_frames_received_total{type="MSG"}'), 4);
  t.is(value(after, 'agentchat_messages_delivered_total'), 8, '4 messages to a channel of 2');
  t.is(value(after, 'agentchat_refusals_total{code="CHANNEL_NOT_FOUND"}'), 1);
  t.is(value(after, 'agentchat_signature_verifications_total{result="valid"}'), 1);
  t.is(value(after, 'agentchat_signature_checks_threaded_total'), 1, 'checked on a check thread');
  t.is(value(after, 'agentchat_signature_check_batches_total'), 1);
  t.is(value(after, 'agentchat_signature_checks{state="in_flight"}'), 0);
  t.is(value(after, 'agentchat_channels'), relay.api.channels.size);
  t.true(after.includes('agentchat_event_loop_lag_seconds'));
  t.is(value(after, 'agentchat_store_healthy'), 1);
});

test('the built relay (serve) checks signed MSGs on its check threads, and a forged one is refused: /metrics counts both', async (t) => {
  // Not even a lone check on the loop: every one must reach a thread of the bundled build.
  const serve = await startServe(t, ['--plugin-options', JSON.stringify({ identity: { verifyInlineWhenIdle: false } })]);
  const keys = newKeyPair();
  const alice = await connectAs(t, serve.port, 'alice', keys);
  const bob = await connectAs(t, serve.port, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  for (let i = 0; i < 5; i++) alice.send(signedMsg(keys, '#general', `signed ${i}`));
  alice.send(signedMsg(newKeyPair(), '#general', 'forged'));
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  for (let i = 0; i < 5; i++) t.is((await bob.next('MSG')).content, `signed ${i}`);
  const body = (await get(serve.port, '/metrics')).body;
  t.is(value(body, 'agentchat_signature_checks_threaded_total'), 6, 'every check went to a thread (none fell back to the loop)');
  t.is(value(body, 'agentchat_signature_verifications_total{result="invalid"}'), 1);
  t.false(bob.received.some((f) => f.type === 'MSG' && f.content === 'forged'));
});

test('serve --metrics-token keeps /metrics private; health stays open', async (t) => {
  const serve = await startServe(t, ['--metrics-token', 's3cret']);
  t.is((await get(serve.port, '/metrics')).status, 401);
  t.is((await get(serve.port, '/metrics', { authorization: 'Bearer wrong' })).status, 401);
  const ok = await get(serve.port, '/metrics', { authorization: 'Bearer s3cret' });
  t.is(ok.status, 200);
  t.true(ok.body.includes('agentchat_sessions'));
  t.is((await get(serve.port, '/healthz')).status, 200);
});

test('an HTTP route that fails, at once or later, answers 500 and the relay serves on', async (t) => {
  const failing = {
    name: 'failing-routes',
    setup(relay: import('../kernel/index.js').RelayApi) {
      relay.route('/now', () => {
        throw new Error('broken at once');
      });
      relay.route('/later', async () => {
        throw new Error('broken later');
      });
    },
  };
  const relay = await startRelay(t, { extraPlugins: [failing] });
  t.is((await get(relay.port, '/now')).status, 500);
  t.is((await get(relay.port, '/later')).status, 500);
  t.is((await get(relay.port, '/healthz')).status, 200);
  t.is(relay.api.stats.pluginErrors, 2);
});
