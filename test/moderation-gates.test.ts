/**
 * The optional gates of a public relay: verified-only channel creation, verified-only
 * DMs, and read-only for keys first seen recently (and for agents without a key). Each
 * is off by default; each refuses with a clear code and nothing happens.
 */
import test from 'ava';
import { agentIdFromPem } from '../protocol/keys.js';
import { memoryStore } from '../store/index.js';
import { connectAs, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, startRelay, type RelayClient } from './helpers/relay-client.js';

const gated = (t: Parameters<typeof startRelay>[0], moderation: Record<string, unknown>, store = memoryStore()) =>
  startRelay(t, { store, pluginOptions: { limits: NO_ADDRESS_LIMITS, moderation } });

/** The MSG with `content` reached `client` (PING first: everything sent before PONG has arrived). */
async function got(client: RelayClient, content: string): Promise<boolean> {
  await client.ping();
  return client.received.some((f) => f.type === 'MSG' && f.content === content);
}

test('by default no gate is on: an agent without a key creates channels, DMs and writes', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const ephemeral = await connectAs(t, relay, 'anon');
  const other = await connectAs(t, relay, 'other');
  ephemeral.send({ type: 'CREATE_CHANNEL', channel: '#open' });
  await ephemeral.next('JOINED', (f) => f.channel === '#open');
  ephemeral.send({ type: 'MSG', to: other.agentId, content: 'hello' });
  await other.next('MSG', (f) => f.content === 'hello');
  t.pass();
});

test('verified-only channel creation: an agent without a proven key gets VERIFICATION_REQUIRED, one with a key creates', async (t) => {
  const relay = await gated(t, { verifiedOnlyChannels: true });
  const anon = await connectAs(t, relay, 'anon');
  anon.send({ type: 'CREATE_CHANNEL', channel: '#mine' });
  const error = await expectRefused(t, anon, 'VERIFICATION_REQUIRED', 'CREATE_CHANNEL');
  t.regex(String(error.message), /only agents that proved a key may create channels/);
  t.is(relay.api.channels.get('#mine'), undefined);
  // Joining and channel messages stay open to it.
  await anon.join('#general');
  const keyed = await connectAs(t, relay, 'keyed', newKeyPair());
  keyed.send({ type: 'CREATE_CHANNEL', channel: '#mine' });
  await keyed.next('JOINED', (f) => f.channel === '#mine');
});

test('verified-only DMs: an agent without a proven key may not DM, but may talk in channels; a keyed agent DMs', async (t) => {
  const relay = await gated(t, { verifiedOnlyDms: true });
  const anon = await connectAs(t, relay, 'anon');
  const keyed = await connectAs(t, relay, 'keyed', newKeyPair());
  anon.send({ type: 'MSG', to: keyed.agentId, content: 'spam' });
  await expectRefused(t, anon, 'VERIFICATION_REQUIRED', 'MSG');
  t.false(await got(keyed, 'spam'));
  await anon.join('#general');
  await keyed.join('#general');
  anon.send({ type: 'MSG', to: '#general', content: 'in the open' });
  await keyed.next('MSG', (f) => f.content === 'in the open');
  keyed.send({ type: 'MSG', to: anon.agentId, content: 'hi back' });
  await anon.next('MSG', (f) => f.content === 'hi back');
});

test('read-only for new keys: a key first seen now gets KEY_TOO_NEW with retry_after_ms; an old key writes; no key is read-only', async (t) => {
  const hour = 3_600_000;
  const oldKeys = newKeyPair();
  const store = memoryStore();
  // The identity plugin's registry remembers when each key first proved its id; this one, two hours ago.
  const oldId = agentIdFromPem(oldKeys.publicKey);
  await store.namespace('identity').put(`key:${oldId}`, { pubkey: oldKeys.publicKey, name: 'veteran', firstSeen: Date.now() - 2 * hour, lastSeen: Date.now() - hour });
  const relay = await gated(t, { minKeyAgeMs: hour }, store);

  const fresh = await connectAs(t, relay, 'fresh', newKeyPair());
  const veteran = await connectAs(t, relay, 'veteran', oldKeys);
  t.is(veteran.agentId, oldId);
  const anon = await connectAs(t, relay, 'anon');
  for (const client of [fresh, veteran, anon]) await client.join('#general');

  fresh.send({ type: 'MSG', to: '#general', content: 'new here' });
  const tooNew = await expectRefused(t, fresh, 'KEY_TOO_NEW', 'MSG');
  t.true(typeof tooNew.retry_after_ms === 'number' && tooNew.retry_after_ms > hour - 60_000 && tooNew.retry_after_ms <= hour, String(tooNew.retry_after_ms));
  fresh.send({ type: 'CREATE_CHANNEL', channel: '#fresh' });
  await expectRefused(t, fresh, 'KEY_TOO_NEW', 'CREATE_CHANNEL');
  fresh.send({ type: 'INVITE', channel: '#general', agent: veteran.agentId });
  await expectRefused(t, fresh, 'KEY_TOO_NEW', 'INVITE');
  anon.send({ type: 'MSG', to: '#general', content: 'no key' });
  await expectRefused(t, anon, 'VERIFICATION_REQUIRED', 'MSG');
  t.false(await got(veteran, 'new here'));
  t.false(await got(veteran, 'no key'));

  veteran.send({ type: 'MSG', to: '#general', content: 'old hand' });
  await fresh.next('MSG', (f) => f.content === 'old hand');
  veteran.send({ type: 'CREATE_CHANNEL', channel: '#veterans' });
  await veteran.next('JOINED', (f) => f.channel === '#veterans');
});

test('a gate option that is not a non-negative number stops the relay at start with its name', async (t) => {
  const { createRelay } = await import('../relay.js');
  const relay = createRelay({ port: 0, host: '127.0.0.1', log: false, pluginOptions: { moderation: { minKeyAgeMs: -1 } } });
  await t.throwsAsync(relay.listen(), { message: /moderation minKeyAgeMs must be a non-negative number, got -1/ });
});
