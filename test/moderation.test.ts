/**
 * Moderation on one relay: kick, ban and mute by agent id, key and address take effect
 * on live sessions and on the next connection; expiry lifts them on schedule; and only
 * a verified session of an admin key, signing a fresh frame for this relay once, may act.
 */
import test from 'ava';
import { connect, connectAs, expectRefused, newKeyPair, upgrade, upgraded, type Frame, type RelayClient } from './helpers/relay-client.js';
import { act, adminFrame, moderatedRelay } from './helpers/moderation.js';

/** Every frame `client` got so far has arrived once PONG does; none of them may be a MSG with this content. */
async function noMsg(client: RelayClient, content: string): Promise<boolean> {
  await client.ping();
  return !client.received.some((f) => f.type === 'MSG' && f.content === content);
}

test('ban by key: the live session is told BANNED and closed with 4003; the key is refused at IDENTIFY from then on', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const spammerKeys = newKeyPair();
  const spammer = await connectAs(t, relay, 'spammer', spammerKeys);
  const ok = await act(admin, adminKeys, { action: 'ban', key: spammerKeys.publicKey, reason: 'spam' });
  t.like(ok, { type: 'ADMIN_OK', action: 'ban', kind: 'key', sessions: 1, reason: 'spam', expires: null });
  t.like(await spammer.next('BANNED'), { reason: 'spam', expires: null });
  t.is((await spammer.closed).code, 4003);

  const again = await connect(t, relay);
  await t.throwsAsync(again.identify('spammer', spammerKeys), { message: /BANNED this key is banned from this relay: spam/ });
  t.is((await again.closed).code, 4003);
  // Another key from the same address is not covered.
  await connectAs(t, relay, 'someone', newKeyPair());
});

test('ban by the key an agent is connected with (key: "@id"): the key is banned, whatever id it comes back as', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const keys = newKeyPair();
  const agent = await connectAs(t, relay, 'agent', keys);
  const ok = await act(admin, adminKeys, { action: 'ban', key: agent.agentId });
  t.like(ok, { type: 'ADMIN_OK', kind: 'key', value: keys.publicKey, agent_id: agent.agentId, sessions: 1 });
  t.is((await agent.closed).code, 4003);
  const again = await connect(t, relay);
  await t.throwsAsync(again.identify('agent', keys), { message: /BANNED this key is banned/ });
  const ephemeral = await connectAs(t, relay, 'ephemeral');
  t.like(await act(admin, adminKeys, { action: 'ban', key: ephemeral.agentId }), { type: 'ERROR', code: 'AGENT_NOT_FOUND' }, 'an agent without a key has no key to ban');
});

test('ban by agent id refuses that id at IDENTIFY; unban lets it back', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const keys = newKeyPair();
  const agent = await connectAs(t, relay, 'agent', keys);
  const id = agent.agentId;
  t.like(await act(admin, adminKeys, { action: 'ban', agent: id }), { type: 'ADMIN_OK', kind: 'agent', value: id, sessions: 1 });
  t.is((await agent.closed).code, 4003);
  const again = await connect(t, relay);
  await t.throwsAsync(again.identify('agent', keys), { message: new RegExp(`BANNED ${id} is banned`) });
  t.like(await act(admin, adminKeys, { action: 'unban', agent: id }), { type: 'ADMIN_OK', action: 'unban' });
  await connectAs(t, relay, 'agent', keys);
  t.like(await act(admin, adminKeys, { action: 'unban', agent: id }), { type: 'ERROR', code: 'RULE_NOT_FOUND' });
});

test('ban by CIDR: upgrades from the range get HTTP 403 BANNED and live sessions there are closed; other addresses are not', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const inside = await upgraded(t, relay.port, { from: '127.0.0.2' });
  await inside.identify('inside');
  const ok = await act(admin, adminKeys, { action: 'ban', address: '127.0.0.2/31', reason: 'abuse' });
  t.like(ok, { type: 'ADMIN_OK', kind: 'address', value: '127.0.0.2/31', sessions: 1 });
  t.is((await inside.closed).code, 4003);
  for (const from of ['127.0.0.2', '127.0.0.3']) {
    const refused = await upgrade(t, relay.port, { from });
    t.is(refused.status, 403);
    t.is(refused.body, 'BANNED: this address is banned from this relay: abuse\n');
  }
  t.is((await upgrade(t, relay.port, { from: '127.0.0.4' })).status, 101);
  // The operator's own session shares 127.0.0.1, outside the range, and lives on.
  await admin.ping();
});

test('the operator is never covered: a ban on its own address closes the others there but not its session', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const neighbour = await connectAs(t, relay, 'neighbour');
  t.like(await act(admin, adminKeys, { action: 'ban', address: '127.0.0.1' }), { sessions: 1 });
  t.is((await neighbour.closed).code, 4003);
  await admin.ping();
  t.like(await act(admin, adminKeys, { action: 'unban', address: '127.0.0.1/32' }), { type: 'ADMIN_OK' });
});

test('kick closes the session with KICKED and 4002, keeps no rule, and the agent may come back', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const keys = newKeyPair();
  const agent = await connectAs(t, relay, 'agent', keys);
  t.like(await act(admin, adminKeys, { action: 'kick', agent: agent.agentId, reason: 'cool off' }), { type: 'ADMIN_OK', action: 'kick', sessions: 1 });
  t.like(await agent.next('KICKED'), { reason: 'cool off' });
  t.is((await agent.closed).code, 4002);
  await connectAs(t, relay, 'agent', keys);
  t.like(await act(admin, adminKeys, { action: 'bans' }), { type: 'BANS', list: [] });
  t.like(await act(admin, adminKeys, { action: 'kick', agent: agent.agentId, expires: Date.now() + 60_000 }), { type: 'ERROR', code: 'INVALID_MSG' });
});

test('mute: the agent is told MUTED, its MSGs are refused with ERROR MUTED and relayed to no one; unmute lifts it', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const loud = await connectAs(t, relay, 'loud');
  const reader = await connectAs(t, relay, 'reader');
  await loud.join('#general');
  await reader.join('#general');
  t.like(await act(admin, adminKeys, { action: 'mute', agent: loud.agentId, reason: 'flooding' }), { type: 'ADMIN_OK', action: 'mute', sessions: 1 });
  t.like(await loud.next('MUTED'), { reason: 'flooding', expires: null });
  loud.send({ type: 'MSG', to: '#general', content: 'still here' });
  const error = await expectRefused(t, loud, 'MUTED', 'MSG');
  t.regex(String(error.message), /you are muted on this relay: flooding/);
  loud.send({ type: 'MSG', to: reader.agentId, content: 'psst' });
  await expectRefused(t, loud, 'MUTED', 'MSG');
  t.true(await noMsg(reader, 'still here'));
  t.true(await noMsg(reader, 'psst'));

  t.like(await act(admin, adminKeys, { action: 'unmute', agent: loud.agentId }), { type: 'ADMIN_OK', action: 'unmute' });
  await loud.next('UNMUTED');
  loud.send({ type: 'MSG', to: '#general', content: 'back' });
  t.like(await reader.next('MSG', (f) => f.content === 'back'), { from: loud.agentId });
});

test('a mute by address covers a session that identifies later, which is told MUTED after WELCOME', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  await act(admin, adminKeys, { action: 'mute', address: '127.0.0.5' });
  const late = await upgraded(t, relay.port, { from: '127.0.0.5' });
  await late.identify('late');
  await late.next('MUTED');
  await late.join('#general');
  late.send({ type: 'MSG', to: '#general', content: 'x' });
  await expectRefused(t, late, 'MUTED', 'MSG');
});

test('a mute and a ban expire on schedule: UNMUTED comes by itself, and the banned address may connect again', async (t) => {
  // The plugin's clock: moved past the expiry instead of waited for, so no timing margin is involved.
  let clock = Date.now();
  let expired: () => void = () => {};
  const bothExpired = new Promise<void>((resolve) => (expired = resolve));
  let expiries = 0;
  const { relay, adminKeys, admin } = await moderatedRelay(t, {
    log: (line) => {
      if (line.includes('"action":"expire"') && ++expiries === 2) expired();
    },
  }, { sweepMs: 20, now: () => clock });
  const quiet = await connectAs(t, relay, 'quiet');
  await quiet.join('#general');
  const soon = clock + 60_000;
  t.like(await act(admin, adminKeys, { action: 'mute', agent: quiet.agentId, expires: soon }), { expires: soon });
  t.like(await act(admin, adminKeys, { action: 'ban', address: '127.0.0.6', expires: soon }), { expires: soon });
  await quiet.next('MUTED');
  t.is((await upgrade(t, relay.port, { from: '127.0.0.6' })).status, 403);
  clock = soon;
  await quiet.next('UNMUTED');
  quiet.send({ type: 'MSG', to: '#general', content: 'free again' });
  await quiet.next('MSG', (f) => f.content === 'free again');
  await bothExpired;
  t.is((await upgrade(t, relay.port, { from: '127.0.0.6' })).status, 101);
  t.like(await act(admin, adminKeys, { action: 'bans' }), { list: [] });
  t.like(await act(admin, adminKeys, { action: 'ban', agent: quiet.agentId, expires: clock - 1 }), { type: 'ERROR', code: 'INVALID_MSG' });
});

test('bans lists active bans and mutes with their reason, expiry and author', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const keys = newKeyPair();
  const later = Date.now() + 3_600_000;
  await act(admin, adminKeys, { action: 'ban', key: keys.publicKey, reason: 'stolen key', expires: later });
  await act(admin, adminKeys, { action: 'mute', address: '2001:db8::1/48' });
  await act(admin, adminKeys, { action: 'ban', agent: '@abcdefgh' });
  const bans = await act(admin, adminKeys, { action: 'bans' });
  const list = bans.list as Array<Record<string, unknown>>;
  t.deepEqual(list.map((r) => [r.action, r.kind]), [['ban', 'agent'], ['ban', 'key'], ['mute', 'address']]);
  t.like(list[1], { reason: 'stolen key', expires: later, by: admin.agentId, value: keys.publicKey });
  t.like(list[2], { value: '2001:db8::/48', reason: null, expires: null });
  t.truthy(relay);
});

test('ADMIN from a non-admin key, or from an agent without a key, is refused NOT_ADMIN and does nothing', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const victim = await connectAs(t, relay, 'victim');
  const otherKeys = newKeyPair();
  const other = await connectAs(t, relay, 'other', otherKeys);
  t.like(await act(other, otherKeys, { action: 'ban', agent: victim.agentId }), { type: 'ERROR', code: 'NOT_ADMIN', ref: 'ADMIN' });
  const ephemeral = await connectAs(t, relay, 'ephemeral');
  // Even with a frame the admin key signed: the session is not the admin's.
  t.like(await act(ephemeral, adminKeys, { action: 'kick', agent: victim.agentId }), { type: 'ERROR', code: 'NOT_ADMIN' });
  await victim.ping();
  t.like(await act(admin, adminKeys, { action: 'bans' }), { list: [] });
});

test('ADMIN with a bad signature, for another relay, stale, or replayed is refused; nothing is done', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const victim = await connectAs(t, relay, 'victim');
  const forged = adminFrame(admin, newKeyPair(), { action: 'kick', agent: victim.agentId });
  admin.send(forged);
  t.like(await admin.next('ERROR'), { code: 'INVALID_SIGNATURE', ref: 'ADMIN' });
  const tampered = { ...adminFrame(admin, adminKeys, { action: 'kick', agent: '@abcdefgh' }), agent: victim.agentId };
  admin.send(tampered);
  t.like(await admin.next('ERROR'), { code: 'INVALID_SIGNATURE' });
  t.like(await act(admin, adminKeys, { action: 'kick', agent: victim.agentId, url: 'ws://other.example:6667' }), { type: 'ERROR', code: 'INVALID_SIGNATURE' });
  t.like(await act(admin, adminKeys, { action: 'kick', agent: victim.agentId, ts: Date.now() - 10 * 60_000 }), { type: 'ERROR', code: 'INVALID_SIGNATURE' });
  await victim.ping();

  const once = adminFrame(admin, adminKeys, { action: 'mute', agent: victim.agentId });
  admin.send(once);
  t.like(await admin.next(['ADMIN_OK', 'ERROR']), { type: 'ADMIN_OK' });
  admin.send({ ...once, action: 'unmute' });
  t.like(await admin.next('ERROR'), { code: 'INVALID_SIGNATURE' }, 'the signature covers the action');
  admin.send(once);
  t.like(await admin.next('ERROR'), { code: 'REPLAYED' });
});

test('ADMIN targets: exactly one, and each must be well formed', async (t) => {
  const { adminKeys, admin } = await moderatedRelay(t);
  const bad: Array<[Parameters<typeof act>[2], RegExp]> = [
    [{ action: 'ban' }, /exactly one target/],
    [{ action: 'ban', agent: '@abcdefgh', address: '10.0.0.1' }, /exactly one target/],
    [{ action: 'ban', address: '10.0.0.0/33' }, /bad prefix length/],
    [{ action: 'ban', address: 'example.org' }, /not an IP address or CIDR/],
    [{ action: 'ban', key: 'not a key' }, /ADMIN key/],
    [{ action: 'bans', agent: '@abcdefgh' }, /takes no agent/],
  ];
  for (const [fields, message] of bad) {
    const answer: Frame = await act(admin, adminKeys, fields);
    t.is(answer.code, 'INVALID_MSG', JSON.stringify(fields));
    t.regex(String(answer.message), message);
  }
  admin.send({ type: 'ADMIN', action: 'explode', url: admin.url, ts: Date.now(), sig: 'x' });
  t.like(await admin.next('ERROR'), { code: 'INVALID_MSG' });
});

test('metrics count moderation actions, refusals and rules in force', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t);
  const target = await connectAs(t, relay, 'target');
  await act(admin, adminKeys, { action: 'mute', agent: target.agentId });
  await target.join('#general');
  target.send({ type: 'MSG', to: '#general', content: 'x' });
  await target.error('MUTED');
  await act(admin, adminKeys, { action: 'ban', address: '127.0.0.7' });
  t.is((await upgrade(t, relay.port, { from: '127.0.0.7' })).status, 403);
  const text = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  for (const series of [
    'agentchat_moderation_actions_total{action="mute"} 1',
    'agentchat_moderation_actions_total{action="ban"} 1',
    'agentchat_moderation_refusals_total{rule="mute"} 1',
    'agentchat_moderation_refusals_total{rule="ban"} 1',
    'agentchat_moderation_rules{action="ban"} 1',
    'agentchat_moderation_rules{action="mute"} 1',
    'agentchat_refusals_total{code="MUTED"} 1',
  ]) t.true(text.split('\n').includes(series), series);
});

test('a relay without admin keys refuses every ADMIN frame, and a bad admin key stops it at start', async (t) => {
  const { startRelay } = await import('./helpers/relay-client.js');
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const someone = await connectAs(t, relay, 'someone', keys);
  t.like(await act(someone, keys, { action: 'bans' }), { type: 'ERROR', code: 'NOT_ADMIN' });
  const { createRelay } = await import('../relay.js');
  const broken = createRelay({ port: 0, host: '127.0.0.1', log: false, pluginOptions: { moderation: { adminKeys: ['nope'] } } });
  await t.throwsAsync(broken.listen(), { message: /plugin "moderation" failed to set up: moderation adminKeys\[0\]/ });
});
