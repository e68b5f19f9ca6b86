/**
 * Async veto points over real sockets: a pending hook holds that session's later
 * frames in order (bounded), never another session's; timeouts and rejections fail
 * closed; the frame and upgrade points; plugins' own error codes.
 */
import test from 'ava';
import WebSocket from 'ws';
import { RelayError, type Plugin, type Session } from '../kernel/index.js';
import { corePlugins } from '../plugins/index.js';
import { connect, connectAs, expectRefused, startRelay } from './helpers/relay-client.js';

const withCore = (...extra: Plugin[]): Plugin[] => [...corePlugins(), ...extra];

/** A promise settled by hand, so the test decides when a hook answers (no timers). */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

test('IDENTIFY, JOIN and MSG sent back to back behind a pending identify hook are all handled, in order', async (t) => {
  const gate = deferred();
  const started = deferred();
  const plugin: Plugin = {
    name: 'slow-identify',
    setup(relay) {
      relay.hook('identify', async (_session, identity) => {
        if (identity.name !== 'alice') return;
        started.resolve();
        await gate.promise;
      });
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const alice = await connect(t, relay);
  alice.send({ type: 'IDENTIFY', name: 'alice' });
  alice.send({ type: 'JOIN', channel: '#general' });
  alice.send({ type: 'MSG', to: '#general', content: 'first words' });
  await started.promise;
  // Another session is served while alice's frames wait.
  const bob = await connectAs(t, relay, 'bob');
  await bob.ping();
  t.is(alice.received.length, 0, 'nothing answered alice yet');
  gate.resolve();
  t.is((await alice.next('MSG')).content, 'first words');
  t.deepEqual(alice.received.map((f) => f.type), ['WELCOME', 'JOINED', 'MSG']);
});

test('the held observer sees each frame that waits behind a pending hook, decoded and in order, and never one handled at once or one that is no frame', async (t) => {
  const gate = deferred();
  const seen: string[] = [];
  const plugin: Plugin = {
    name: 'gate-and-watch',
    setup(relay) {
      relay.hook('join', () => gate.promise);
      relay.hook('held', (_session, frame) => void seen.push(frame.type));
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin), maxHeldFrames: 3 });
  const alice = await connectAs(t, relay, 'alice');
  await alice.ping();
  t.deepEqual(seen, [], 'a frame handled at once is not held');
  alice.send({ type: 'JOIN', channel: '#general' });
  alice.send({ type: 'PING' });
  alice.sendRaw('{"not json');
  alice.send({ type: 'MSG', to: '#general', content: 'waits' });
  // Past maxHeldFrames (3): refused at once, so not held either.
  alice.send({ type: 'PING' });
  t.is((await alice.next('ERROR')).code, 'RATE_LIMITED');
  t.deepEqual(seen, ['PING', 'MSG'], 'the undecodable frame waits its turn but is not shown');
  gate.resolve();
  await alice.next('JOINED');
  await alice.next('PONG');
  // Answered in its turn: after the PING before it, before the MSG after it.
  const invalid = await alice.next('ERROR', (f) => f.code === 'INVALID_MSG');
  t.regex(String(invalid.message), /not valid JSON/);
  t.is((await alice.next('MSG')).content, 'waits');
  t.deepEqual(alice.received.map((f) => f.type).slice(-4), ['JOINED', 'PONG', 'ERROR', 'MSG']);
});

test('frames past maxHeldFrames while a hook is pending get RATE_LIMITED; the held ones still run', async (t) => {
  const gate = deferred();
  const plugin: Plugin = {
    name: 'gate',
    setup(relay) {
      relay.hook('join', () => gate.promise);
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin), maxHeldFrames: 2 });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'JOIN', channel: '#general' });
  alice.send({ type: 'PING' });
  alice.send({ type: 'PING' });
  alice.send({ type: 'PING' });
  const refused = await alice.next('ERROR');
  t.is(refused.code, 'RATE_LIMITED');
  t.regex(String(refused.message), /waiting for an earlier request/);
  gate.resolve();
  await alice.next('JOINED');
  await alice.next('PONG');
  await alice.next('PONG');
  await alice.ping();
  t.is(alice.pending('PONG').length, 0, 'exactly the two held PINGs were answered, then ours');
});

test('an async hook that times out fails closed with UNAVAILABLE; the session and the relay go on', async (t) => {
  const plugin: Plugin = {
    name: 'silent-db',
    setup(relay) {
      relay.hook('join', (_session, channel) => (channel.name === '#general' ? new Promise(() => {}) : undefined));
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin), hookTimeoutMs: 50 });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'JOIN', channel: '#general' });
  const error = await expectRefused(t, alice, 'UNAVAILABLE', 'JOIN');
  t.regex(String(error.message), /silent-db check \(join\) did not answer within 50 ms/);
  t.false(relay.api.channels.get('#general')!.members.has(alice.agentId!), 'the join did not happen');
  await alice.join('#agents');
  t.is(relay.api.stats.hookTimeouts, 1);
});

test('an async hook that rejects with a bug fails closed with INTERNAL_ERROR and is counted', async (t) => {
  const plugin: Plugin = {
    name: 'buggy',
    setup(relay) {
      relay.hook('message', async () => {
        throw new Error('lost connection to the allowlist');
      });
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'hi' });
  await expectRefused(t, alice, 'INTERNAL_ERROR', 'MSG');
  t.is(alice.pending('MSG').length, 0, 'nothing was relayed');
  t.is(relay.api.stats.pluginErrors, 1);
});

test('an async message hook that lets a MSG pass delivers it after re-checking the route', async (t) => {
  const plugin: Plugin = {
    name: 'async-ok',
    setup(relay) {
      relay.hook('message', async (_session, msg) => (msg.content === 'blocked' ? new RelayError('BANNED_WORD', 'not that word') : undefined));
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'blocked' });
  alice.send({ type: 'MSG', to: '#general', content: 'fine' });
  const error = await alice.next('ERROR');
  t.is(error.code, 'BANNED_WORD', 'a plugin\'s own error code reaches the client');
  t.is(error.ref, 'MSG');
  t.is((await bob.next('MSG')).content, 'fine');
  alice.send({ type: 'MSG', to: bob.agentId!, content: 'dm after async check' });
  t.is((await bob.next('MSG')).content, 'dm after async check');
});

test('the frame hook sees every validated frame type and can refuse CREATE_CHANNEL by name, sync or async', async (t) => {
  const seen: string[] = [];
  const plugin: Plugin = {
    name: 'names',
    setup(relay) {
      relay.hook('frame', (_session, type, frame) => {
        seen.push(type);
        if (type === 'CREATE_CHANNEL' && String(frame.channel).startsWith('#ads')) return new RelayError('CHANNEL_NAME_REFUSED', 'no ad channels here');
        if (type === 'CREATE_CHANNEL' && String(frame.channel).startsWith('#slow-no')) return Promise.resolve(new RelayError('CHANNEL_NAME_REFUSED', 'checked, and no'));
      });
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#ads-for-all' });
  await expectRefused(t, alice, 'CHANNEL_NAME_REFUSED', 'CREATE_CHANNEL');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#slow-no' });
  await expectRefused(t, alice, 'CHANNEL_NAME_REFUSED', 'CREATE_CHANNEL');
  t.is(relay.api.channels.get('#ads-for-all'), undefined);
  t.is(relay.api.channels.get('#slow-no'), undefined);
  alice.send({ type: 'CREATE_CHANNEL', channel: '#design' });
  await alice.next('JOINED');
  for (const type of ['IDENTIFY', 'PING', 'CREATE_CHANNEL']) t.true(seen.includes(type), `frame hook saw ${type}: ${seen.join(',')}`);
});

test('an async connect hook holds the first frames until it decides; a refusal closes with 1008', async (t) => {
  const gate = deferred<RelayError | undefined>();
  let calls = 0;
  const plugin: Plugin = {
    name: 'door',
    setup(relay) {
      relay.hook('connect', () => (++calls === 1 ? gate.promise : new RelayError('BANNED', 'go away')));
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const alice = await connect(t, relay);
  alice.send({ type: 'PING' });
  alice.send({ type: 'IDENTIFY', name: 'alice' });
  gate.resolve(undefined);
  await alice.next('PONG');
  await alice.next('WELCOME');
  const mallory = await connect(t, relay);
  t.is((await mallory.next('ERROR')).code, 'BANNED');
  t.is((await mallory.closed).code, 1008);
});

/** Open a WebSocket with `headers`; resolves with the HTTP status of a refusal, or 101 once open. */
function upgradeStatus(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

test('an upgrade hook refuses with an HTTP status before any session exists; sync and async', async (t) => {
  const seen: string[] = [];
  const plugin: Plugin = {
    name: 'bearer',
    setup(relay) {
      relay.hook('upgrade', (request) => {
        seen.push(`${request.url} ${request.remoteAddress}`);
        if (request.headers['x-slow'] === 'yes') return Promise.resolve(new RelayError('RATE_LIMITED', 'slow down'));
        if (request.headers.authorization !== 'Bearer s3cret') return new RelayError('AUTH_REQUIRED', 'send Authorization: Bearer <token>');
      });
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const refused = await upgradeStatus(relay.port);
  t.is(refused.status, 401);
  t.regex(refused.body, /AUTH_REQUIRED: send Authorization/);
  t.is((await upgradeStatus(relay.port, { 'x-slow': 'yes' })).status, 429);
  t.is(relay.api.sessions.size, 0, 'no session was made for a refused upgrade');
  t.is((await upgradeStatus(relay.port, { authorization: 'Bearer s3cret' })).status, 101);
  t.is(relay.api.stats.upgradesRefused, 2);
  t.true(seen.every((line) => line.startsWith('/ 127.0.0.1')), seen.join('; '));
});

test('an upgrade refusal may choose its status', async (t) => {
  const plugin: Plugin = {
    name: 'teapot',
    setup(relay) {
      relay.hook('upgrade', () => new RelayError('MAINTENANCE', 'back soon', { status: 503 }));
    },
  };
  const relay = await startRelay(t, { plugins: withCore(plugin) });
  const refused = await upgradeStatus(relay.port);
  t.is(refused.status, 503);
  t.regex(refused.body, /MAINTENANCE: back soon/);
});

test('a plugin session slot is per session, shared by name, and gone with the session', async (t) => {
  const values: Array<string | undefined> = [];
  const writer: Plugin = {
    name: 'writer',
    setup(relay) {
      const slot = relay.sessionSlot<string>('shared.tag');
      relay.hook('identified', (session: Session) => slot.set(session, `tag-${session.name}`));
    },
  };
  const reader: Plugin = {
    name: 'reader',
    setup(relay) {
      const slot = relay.sessionSlot<string>('shared.tag');
      relay.hook('joined', (session) => void values.push(slot.get(session)));
      relay.hook('connect', (session) => void values.push(slot.get(session)));
    },
  };
  const relay = await startRelay(t, { plugins: withCore(writer, reader) });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  t.deepEqual(values, [undefined, undefined, 'tag-alice', 'tag-bob']);
});
