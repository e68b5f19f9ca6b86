/**
 * Bans and mutes are kept in the store: on a relay with a data dir (SQLite) a ban by key
 * and a ban by CIDR still hold after a restart, as does a mute; a rule whose expiry
 * passed while the relay was down is gone when it comes back.
 */
import test, { type ExecutionContext } from 'ava';
import { createRelay } from '../relay.js';
import { sqliteStore } from '../store/index.js';
import { tempDir } from './helpers/cli.js';
import { act } from './helpers/moderation.js';
import type { KeyPairPem } from '../protocol/keys.js';
import { connect, connectAs, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, upgrade } from './helpers/relay-client.js';

/** Opens a relay on `dir`'s SQLite file each time it is called (the previous one closed by the caller). */
function durableRelay(t: ExecutionContext, dir: string, adminKeys: KeyPairPem, now: () => number = Date.now) {
  return async () => {
    const relay = createRelay({
      port: 0, host: '127.0.0.1', log: false, store: sqliteStore({ dataDir: dir }),
      pluginOptions: { limits: NO_ADDRESS_LIMITS, moderation: { adminKeys: [adminKeys.publicKey], now } },
    });
    await relay.listen();
    t.teardown(() => relay.close());
    return relay;
  };
}

test('a ban by key, a ban by CIDR and a mute survive a restart of a relay on a data dir', async (t) => {
  const dir = await tempDir(t);
  const adminKeys = newKeyPair();
  const open = durableRelay(t, dir, adminKeys);
  let relay = await open();
  const admin = await connectAs(t, relay, 'operator', adminKeys);
  const [bannedKeys, mutedKeys] = [newKeyPair(), newKeyPair()];
  const muted = await connectAs(t, relay, 'muted', mutedKeys);
  t.like(await act(admin, adminKeys, { action: 'ban', key: bannedKeys.publicKey, reason: 'spam' }), { type: 'ADMIN_OK' });
  t.like(await act(admin, adminKeys, { action: 'ban', address: '127.0.0.8/30', reason: 'botnet' }), { type: 'ADMIN_OK' });
  t.like(await act(admin, adminKeys, { action: 'mute', agent: muted.agentId }), { type: 'ADMIN_OK' });
  await relay.close();

  relay = await open();
  const again = await connect(t, relay);
  await t.throwsAsync(again.identify('banned', bannedKeys), { message: /BANNED this key is banned from this relay: spam/ });
  t.is((await again.closed).code, 4003);
  const fromRange = await upgrade(t, relay.port, { from: '127.0.0.9' });
  t.is(fromRange.status, 403);
  t.regex(fromRange.body, /^BANNED: this address is banned from this relay: botnet/);
  const mutedAgain = await connectAs(t, relay, 'muted', mutedKeys);
  await mutedAgain.next('MUTED');
  await mutedAgain.join('#general');
  mutedAgain.send({ type: 'MSG', to: '#general', content: 'after the restart' });
  await expectRefused(t, mutedAgain, 'MUTED', 'MSG');

  const adminAgain = await connectAs(t, relay, 'operator', adminKeys);
  const list = (await act(adminAgain, adminKeys, { action: 'bans' })).list as Array<Record<string, unknown>>;
  t.deepEqual(list.map((r) => [r.action, r.kind, r.reason]), [['ban', 'address', 'botnet'], ['ban', 'key', 'spam'], ['mute', 'agent', null]]);

  // Lifted before the next restart: stays lifted.
  await act(adminAgain, adminKeys, { action: 'unban', key: bannedKeys.publicKey });
  await relay.close();
  relay = await open();
  await connectAs(t, relay, 'banned', bannedKeys);
});

test('a ban that expired while the relay was down is gone at start', async (t) => {
  const dir = await tempDir(t);
  const adminKeys = newKeyPair();
  // The plugin's clock: the relay is "down" across the expiry without waiting for it.
  let clock = Date.now();
  const open = durableRelay(t, dir, adminKeys, () => clock);
  let relay = await open();
  const admin = await connectAs(t, relay, 'operator', adminKeys);
  const keys = newKeyPair();
  const expires = clock + 60_000;
  t.like(await act(admin, adminKeys, { action: 'ban', key: keys.publicKey, expires }), { expires });
  await relay.close();
  clock = expires;
  relay = await open();
  await connectAs(t, relay, 'back', keys);
  const adminAgain = await connectAs(t, relay, 'operator', adminKeys);
  t.like(await act(adminAgain, adminKeys, { action: 'bans' }), { list: [] });
});
