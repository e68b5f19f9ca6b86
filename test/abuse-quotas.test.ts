/**
 * Fair quotas for free identities: channel creation is limited per address and per
 * key (fresh ephemeral ids do not reset it), an ephemeral agent's empty channel is
 * reclaimed within minutes, INVITE notifications cost a MSG token, and hostile frame
 * shapes are INVALID_MSG.
 */
import test from 'ava';
import { connect, connectAs, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, startRelay } from './helpers/relay-client.js';

test('channel creation is rate-limited per address: fresh ephemeral ids do not reset it', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { createsPerMinute: 3 } } });
  for (let i = 0; i < 3; i++) {
    const agent = await connectAs(t, relay, `anon${i}`);
    agent.send({ type: 'CREATE_CHANNEL', channel: `#room${i}` });
    await agent.next('JOINED');
  }
  const fresh = await connectAs(t, relay, 'anon-fresh');
  fresh.send({ type: 'CREATE_CHANNEL', channel: '#one-more' });
  const error = await expectRefused(t, fresh, 'LIMIT_EXCEEDED', 'CREATE_CHANNEL');
  t.like(error, { reason: 'channel_create_rate' });
  t.is(typeof error.retry_after_ms, 'number');
  t.is(relay.api.channels.get('#one-more'), undefined);
  t.is(relay.api.stats.refusals.channel_create_rate, 1);
  await fresh.join('#room0');
});

test('existing channels created per address are capped', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { maxCreatedPerIp: 2, createsPerMinute: 0 } } });
  const a = await connectAs(t, relay, 'a');
  const b = await connectAs(t, relay, 'b');
  a.send({ type: 'CREATE_CHANNEL', channel: '#a1' });
  await a.next('JOINED');
  b.send({ type: 'CREATE_CHANNEL', channel: '#b1' });
  await b.next('JOINED');
  b.send({ type: 'CREATE_CHANNEL', channel: '#b2' });
  t.like(await expectRefused(t, b, 'LIMIT_EXCEEDED', 'CREATE_CHANNEL'), { reason: 'channels_per_ip' });
});

test('an empty channel of an ephemeral creator is reclaimed after ephemeralChannelIdleMs; a keyed creator\'s stays', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { channels: { ephemeralChannelIdleMs: 20, sweepMs: 10 } } });
  for (const [name, keys] of [['anon', undefined], ['keyed', newKeyPair()]] as const) {
    const creator = await connectAs(t, relay, name, keys);
    creator.send({ type: 'CREATE_CHANNEL', channel: `#${name}-room` });
    await creator.next('JOINED');
    creator.send({ type: 'LEAVE', channel: `#${name}-room` });
    await creator.next('LEFT');
  }
  while (relay.api.channels.get('#anon-room') !== undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  t.truthy(relay.api.channels.get('#keyed-room'), 'kept for the default 24 h');
});

test('INVITE draws from the MSG bucket: an invite flood stops at the MSG burst', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 3, perSec: 0.01 }, pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const inviter = await connectAs(t, relay, 'inviter');
  const victim = await connectAs(t, relay, 'victim');
  inviter.send({ type: 'CREATE_CHANNEL', channel: '#spam', invite_only: true });
  await inviter.next('JOINED');
  for (let i = 0; i < 10; i++) inviter.send({ type: 'INVITE', channel: '#spam', agent: victim.agentId });
  for (let i = 0; i < 3; i++) await inviter.next('INVITED');
  await inviter.error('RATE_LIMITED');
  await inviter.ping();
  await victim.ping();
  t.is(victim.pending('MSG').length, 3, 'no more invitations than the MSG burst reached the victim');
});

test('frames whose shape makes validation throw are INVALID_MSG, and the session goes on', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  await c.identify('shapes');
  c.sendRaw('{"type":"JOIN","channel":{"toString":1}}');
  await expectRefused(t, c, 'INVALID_NAME', 'JOIN');
  c.sendRaw('{"type":"MSG","to":"#general","content":{"toString":1,"valueOf":1}}');
  await expectRefused(t, c, 'INVALID_MSG', 'MSG');
  c.sendRaw('{"type":"MSG","to":"#general","content":' + '['.repeat(5000) + ']'.repeat(5000) + '}');
  await expectRefused(t, c, 'INVALID_MSG', 'MSG');
  c.sendRaw('{"type":"CREATE_CHANNEL","channel":"#x","invite_only":{"toString":1,"valueOf":1}}');
  await expectRefused(t, c, 'INVALID_MSG', 'CREATE_CHANNEL');
  t.is(relay.api.stats.pluginErrors, 0, 'nothing was a plugin error (no stack trace logged)');
});
