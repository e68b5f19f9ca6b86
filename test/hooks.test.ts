/**
 * The hook interface, exercised by plugins that live outside plugins/
 * (test/fixtures): own message types with schemas, refusing lifecycle points,
 * observing deliveries, and containment of plugin bugs.
 */
import test from 'ava';
import { RelayError, type Plugin } from '../kernel/index.js';
import { createRelay } from '../relay.js';
import { corePlugins } from '../plugins/index.js';
import { BANNED_NAME, BANNED_WORD, echoPlugin, VAULT } from './fixtures/echo-plugin.js';
import { claimingPlugin, faultyPlugin, TRAP } from './fixtures/faulty-plugin.js';
import { connect, connectAs, expectRefused, startRelay } from './helpers/relay-client.js';

/** The core plugins, then `extra`, in hook order. */
const withCore = (...extra: Plugin[]): Plugin[] => [...corePlugins(), ...extra];

test('a plugin type is dispatched to its handler with the validated frame', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'ECHO', text: 'ab', times: 3 });
  const echoed = await alice.next('ECHOED');
  t.is(echoed.text, 'ababab');
  t.is(typeof echoed.ts, 'number', 'relay.send stamps ts');
});

test('a plugin type with a bad field is refused with INVALID_MSG naming the field', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  const cases: Array<[object, string]> = [
    [{ type: 'ECHO', text: 5 }, 'text'],
    [{ type: 'ECHO' }, 'text'],
    [{ type: 'ECHO', text: '' }, 'text'],
    [{ type: 'ECHO', text: 'x', times: 1.5 }, 'times'],
    [{ type: 'ECHO', text: 'x', times: 9 }, 'times'],
  ];
  for (const [frame, field] of cases) {
    alice.send(frame);
    const error = await expectRefused(t, alice, 'INVALID_MSG', 'ECHO');
    t.true(String(error.message).includes(`"${field}"`), `names "${field}": ${String(error.message)}`);
  }
  t.is(alice.pending('ECHOED').length, 0, 'the handler never ran');
});

test('a plugin type needs IDENTIFY first unless it says otherwise', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const c = await connect(t, relay);
  c.send({ type: 'ECHO', text: 'early' });
  await expectRefused(t, c, 'AUTH_REQUIRED', 'ECHO');
});

test('a plugin type draws from the bucket it names', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()), rateMsg: { burst: 2, perSec: 0.01 } });
  const alice = await connectAs(t, relay, 'alice');
  for (let i = 0; i < 3; i++) alice.send({ type: 'ECHO', text: `e${i}` });
  await expectRefused(t, alice, 'RATE_LIMITED', 'ECHO');
  t.deepEqual(alice.pending('ECHOED').map((f) => f.text), ['e0', 'e1']);
});

test('a join hook refusal reaches the client as that ERROR and the join does not happen', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const vip = await connectAs(t, relay, 'vip-alice');
  await vip.join(VAULT);
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'JOIN', channel: VAULT });
  const error = await expectRefused(t, bob, 'NOT_INVITED', 'JOIN');
  t.regex(String(error.message), /vip/);
  t.is(bob.pending('JOINED').length, 0);
  await vip.ping();
  t.is(vip.pending('AGENT_JOINED').length, 0, 'the members were not told');
  t.deepEqual([...relay.api.channels.get(VAULT)!.members.keys()], [vip.agentId]);
});

test('a message hook refusal reaches the sender and nothing is relayed or observed', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: `say ${BANNED_WORD} now` });
  await expectRefused(t, alice, 'INVALID_MSG', 'MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
  alice.send({ type: 'ECHO', text: 'count' });
  t.is((await alice.next('ECHOED')).delivered, 0);
});

test('an identify hook refusal leaves the session unidentified and able to retry', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: BANNED_NAME });
  await expectRefused(t, c, 'INVALID_NAME', 'IDENTIFY');
  t.is(relay.api.sessions.identifiedCount, 0);
  c.send({ type: 'JOIN', channel: '#general' });
  await expectRefused(t, c, 'AUTH_REQUIRED', 'JOIN');
  const welcome = await c.identify('reformed');
  t.is(welcome.name, 'reformed');
});

test('a connect hook refusal sends that ERROR and closes the socket with 1008', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin({ closed: true })) });
  const c = await connect(t, relay);
  const error = await c.next('ERROR');
  t.is(error.code, 'LIMIT_EXCEEDED');
  t.is((await c.closed).code, 1008);
  t.is(relay.api.sessions.size, 0);
});

test('the delivered hook observes every delivered channel message and DM', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'one' });
  await alice.next('MSG');
  alice.send({ type: 'MSG', to: bob.agentId, content: 'two' });
  await bob.next('MSG');
  alice.send({ type: 'MSG', to: '#nowhere', content: 'refused' });
  await alice.error('CHANNEL_NOT_FOUND');
  alice.send({ type: 'ECHO', text: 'count' });
  const echoed = await alice.next('ECHOED');
  t.is(echoed.delivered, 2);
  t.is(echoed.last, 'two');
});

test('relay.publish from a plugin reaches every member of the channel', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(echoPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  const carol = await connectAs(t, relay, 'carol');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'BROADCAST', channel: '#general', text: 'extra!' });
  for (const c of [alice, bob]) {
    const news = await c.next('NEWS');
    t.is(news.text, 'extra!');
    t.is(news.from, alice.agentId);
    t.is(typeof news.ts, 'number');
  }
  await carol.ping();
  t.is(carol.pending('NEWS').length, 0);
});

test('hooks run in registration order: the first refusal wins', async (t) => {
  const first: Plugin = { name: 'first', setup: (r) => r.hook('join', () => new RelayError('CHANNEL_NOT_FOUND', 'first says no')) };
  const relay = await startRelay(t, { plugins: [...withCore(first), echoPlugin()] });
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'JOIN', channel: VAULT });
  const error = await expectRefused(t, bob, 'CHANNEL_NOT_FOUND', 'JOIN');
  t.is(error.message, 'first says no');
});

test('a hook that throws a plain Error is contained: INTERNAL_ERROR, stats.pluginErrors, the relay keeps serving', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(faultyPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  alice.send({ type: 'JOIN', channel: TRAP });
  await expectRefused(t, alice, 'INTERNAL_ERROR', 'JOIN');
  t.false(relay.api.channels.get(TRAP)!.members.has(alice.agentId), 'the join did not happen');
  t.is(relay.api.stats.pluginErrors, 1);
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'explode' });
  await expectRefused(t, alice, 'INTERNAL_ERROR', 'MSG');
  t.is(relay.api.stats.pluginErrors, 2);
  await bob.ping();
  t.is(bob.pending('MSG').length, 0, 'a failed message hook relays nothing');
  alice.send({ type: 'MSG', to: '#general', content: 'still works' });
  t.is((await bob.next('MSG')).content, 'still works');
});

test('a handler that throws a plain Error is answered INTERNAL_ERROR and logged', async (t) => {
  const lines: string[] = [];
  const relay = await startRelay(t, { plugins: withCore(faultyPlugin()), log: (line) => lines.push(line) });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CRASH' });
  const error = await expectRefused(t, alice, 'INTERNAL_ERROR', 'CRASH');
  t.notRegex(String(error.message), /handler bug/, 'internals are not leaked to the client');
  t.is(relay.api.stats.pluginErrors, 1);
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'plugin_error');
  t.is(logged?.plugin, 'faulty');
  t.regex(String(logged?.error), /handler bug/);
});

test('an observing hook that throws does not stop delivery', async (t) => {
  const relay = await startRelay(t, { plugins: withCore(faultyPlugin()) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'observer-boom' });
  t.is((await bob.next('MSG')).content, 'observer-boom');
  t.is((await alice.next('MSG')).content, 'observer-boom');
  await alice.ping();
  t.is(alice.pending('ERROR').length, 0);
  t.is(relay.api.stats.pluginErrors, 1);
});

test('registering a type twice fails the setup of the second owner, naming both', async (t) => {
  const cases: Array<[Plugin[], RegExp]> = [
    [withCore(echoPlugin(), claimingPlugin('ECHO')), /plugin "claims-ECHO" failed to set up: message type ECHO is already owned by plugin echo/],
    [withCore(claimingPlugin('MSG')), /MSG is already owned by plugin kernel/],
    [withCore(claimingPlugin('IDENTIFY')), /IDENTIFY is already owned by plugin identity/],
  ];
  for (const [plugins, message] of cases) {
    const relay = createRelay({ log: false, port: 0, host: '127.0.0.1', plugins });
    await t.throwsAsync(relay.listen(), { message });
    await relay.close();
  }
});

test('without the identity plugin there is no IDENTIFY: the kernel knows no identity policy', async (t) => {
  const relay = await startRelay(t, { plugins: [echoPlugin()] });
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'alice' });
  await expectRefused(t, c, 'INVALID_MSG', 'IDENTIFY');
  t.truthy(relay.api.channels.get(VAULT));
  t.is(relay.api.channels.get('#general'), undefined);
});
