/**
 * Identity you can trust: a proof binds the relay URL the client dialled, so a
 * proxying relay cannot reuse it; ids are bound to the key that first proved them;
 * the newest verified session of a key displaces a silent ghost (throttled); signed
 * MSGs cannot be replayed; opt-in long ids.
 */
import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { AgentChatClient, AgentChatError, generateIdentity } from '../client/index.js';
import { authSigningString, signString } from '../protocol/index.js';
import { connect, connectAs, expectedAgentId, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, signedMsg, startRelay, type RelayClient } from './helpers/relay-client.js';

/** A hostile relay: a WebSocket server that forwards every frame, both ways, to the real relay unchanged. */
async function proxyRelay(t: Parameters<typeof startRelay>[0], targetPort: number): Promise<{ url: string; forwarded: string[] }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const forwarded: string[] = [];
  server.on('connection', (victim) => {
    const upstream = new WebSocket(`ws://127.0.0.1:${targetPort}`);
    const queue: string[] = [];
    upstream.on('open', () => queue.splice(0).forEach((f) => upstream.send(f)));
    victim.on('message', (data) => {
      const text = data.toString();
      forwarded.push(text);
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else queue.push(text);
    });
    upstream.on('message', (data) => victim.send(data.toString()));
    upstream.on('close', () => victim.close());
    victim.on('close', () => upstream.close());
    upstream.on('error', () => {});
  });
  t.teardown(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate();
    server.close(() => resolve());
  }));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, forwarded };
}

test('a proxying relay cannot reuse a proof: the client signs the URL it dialled, and the real relay refuses it', async (t) => {
  const relay = await startRelay(t);
  const proxy = await proxyRelay(t, relay.port);
  const victim = new AgentChatClient({ server: proxy.url, identity: generateIdentity('victim'), requestTimeoutMs: 3000 });
  t.teardown(() => victim.disconnect());
  const err = await t.throwsAsync(victim.connect(), { instanceOf: AgentChatError });
  t.is(err?.code, 'VERIFY_FAILED');
  t.regex(err?.message ?? '', new RegExp(`this proof is for ${proxy.url}, which is not this relay.*--public-url`));
  const verify = JSON.parse(proxy.forwarded.find((f) => f.includes('"VERIFY"'))!) as { url: string };
  t.is(verify.url, proxy.url, 'the proof named the proxy, not the relay behind it');
  t.is(relay.api.sessions.identifiedCount, 0, 'the proxy holds no identity on the real relay');
});

test('a proof for the relay\'s own URL, or a --public-url it was given, is accepted; a proof naming another relay is not', async (t) => {
  const keys = newKeyPair();
  const viaProxy = 'wss://relay.example.com:443/agents';
  const relay = await startRelay(t, { pluginOptions: { identity: { publicUrls: ['WSS://Relay.Example.com/agents'] } } });
  const answer = async (url: string): Promise<RelayClient> => {
    const c = await connect(t, relay);
    c.send({ type: 'IDENTIFY', name: 'alice', pubkey: keys.publicKey });
    const challenge = await c.next('CHALLENGE');
    c.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(challenge.server), String(challenge.nonce), url)), url });
    return c;
  };
  t.is((await (await answer(`ws://localhost:${relay.port}`)).next('WELCOME')).verified, true, 'localhost names a relay bound to loopback');
  t.is((await (await answer(viaProxy)).next('WELCOME')).verified, true, 'the public URL, normalized, is this relay');
  for (const url of ['ws://evil.example:6667', 'wss://relay.example.com:443/other', `ws://LOCALHOST:${relay.port}`]) {
    const c = await answer(url);
    const error = await c.next('ERROR');
    t.is(error.code, 'VERIFY_FAILED', url);
    t.is((await c.closed).code, 1008);
  }
  const unsigned = await connect(t, relay);
  unsigned.send({ type: 'IDENTIFY', name: 'old', pubkey: newKeyPair().publicKey });
  const challenge = await unsigned.next('CHALLENGE');
  unsigned.send({ type: 'VERIFY', sig: signString(keys.privateKey, `AGENTCHAT-AUTH|${String(challenge.server)}|${String(challenge.nonce)}`) });
  t.regex(String((await unsigned.next('ERROR')).message), /must carry the url/);
});

/** Two keys with one id, the way a grinder would get them (grinding is not a test): ids assigned by the test. */
function collidingIds(): { agentIdOf: (pem: string) => string; assign: (publicKey: string, id: string) => void } {
  const ids = new Map<string, string>();
  return {
    agentIdOf: (pem) => ids.get(pem.trim()) ?? expectedAgentId(pem),
    assign: (publicKey, id) => void ids.set(publicKey.trim(), id),
  };
}

test('a key whose id collides with an id another key proved is refused with KEY_CONFLICT, even after the owner left', async (t) => {
  const ids = collidingIds();
  const relay = await startRelay(t, { pluginOptions: { identity: { agentIdOf: ids.agentIdOf } } });
  const owner = newKeyPair();
  const grinder = newKeyPair();
  ids.assign(owner.publicKey, '@0badc0de');
  ids.assign(grinder.publicKey, '@0badc0de');
  const alice = await connectAs(t, relay, 'alice', owner);
  t.is(alice.agentId, '@0badc0de');
  alice.terminate();
  await alice.closed;
  const mallory = await connect(t, relay);
  mallory.send({ type: 'IDENTIFY', name: 'mallory', pubkey: grinder.publicKey });
  const error = await expectRefused(t, mallory, 'KEY_CONFLICT', 'IDENTIFY');
  t.regex(String(error.message), /belongs to another key/);
  t.is(mallory.pending('CHALLENGE').length, 0);
  // The owner comes back with its key and gets its id.
  t.is((await connectAs(t, relay, 'alice', owner)).agentId, '@0badc0de');
});

test('proposal steps are authorized by the party\'s key: a colliding key that got the id (registry forgot it) cannot act', async (t) => {
  const ids = collidingIds();
  const relay = await startRelay(t, { pluginOptions: { identity: { agentIdOf: ids.agentIdOf, maxRegisteredKeys: 1 } } });
  const [aliceKeys, bobKeys, grinderKeys] = [newKeyPair(), newKeyPair(), newKeyPair()];
  ids.assign(aliceKeys.publicKey, '@a11ce000');
  ids.assign(grinderKeys.publicKey, '@a11ce000');
  const alice = await connectAs(t, relay, 'alice', aliceKeys);
  const bob = await connectAs(t, relay, 'bob', bobKeys); // the registry (of one) now forgets alice
  const { proposalCanonicalString, PROPOSAL_SIG_FORMAT_JSON, acceptSigningString, completeSigningString } = await import('../protocol/index.js');
  const fields = { to: bob.agentId!, task: 'audit' };
  alice.send({ type: 'PROPOSAL', ...fields, sig: signString(aliceKeys.privateKey, proposalCanonicalString(fields)), sig_format: PROPOSAL_SIG_FORMAT_JSON });
  const proposal = await bob.next('PROPOSAL');
  const id = String(proposal.id);
  bob.send({ type: 'ACCEPT', proposal_id: id, sig: signString(bobKeys.privateKey, acceptSigningString(id)) });
  await bob.next('ACCEPT');
  alice.terminate();
  await alice.closed;
  const mallory = await connectAs(t, relay, 'mallory', grinderKeys);
  t.is(mallory.agentId, '@a11ce000', 'with the registry past its bound, the grinder got the id');
  mallory.send({ type: 'COMPLETE', proposal_id: id, sig: signString(grinderKeys.privateKey, completeSigningString(id)) });
  const refused = await expectRefused(t, mallory, 'INVALID_PROPOSAL', 'COMPLETE');
  t.is(refused.reason, 'NOT_PROPOSAL_PARTY');
  t.regex(String(refused.message), /with another key than yours/);
});

/** A client whose network vanished: its socket reads nothing and answers nothing. */
const vanish = (c: RelayClient) => (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();

test('a verified reconnect displaces a silent ghost at once: the ghost is told and closed, the new session is welcomed', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const ghost = await connectAs(t, relay, 'alice', keys);
  await ghost.join('#general');
  vanish(ghost);
  const fresh = await connectAs(t, relay, 'alice', keys);
  t.is(fresh.agentId, ghost.agentId);
  t.is(relay.api.sessions.byAgentId(fresh.agentId!)?.channels.size, 0, 'the new session is the one indexed');
  await fresh.join('#general');
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'MSG', to: fresh.agentId!, content: 'reaches the new session' });
  t.is((await fresh.next('MSG')).content, 'reaches the new session');
  (ghost.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  t.is((await ghost.next('SESSION_DISPLACED')).type, 'SESSION_DISPLACED');
  t.is((await ghost.closed).code, 4001);
});

test('displacement ping-pong is throttled: a third proof within the interval gets RATE_LIMITED with retry_after_ms', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { displaceIntervalMs: 60_000 } } });
  const keys = newKeyPair();
  await connectAs(t, relay, 'copy-a', keys);
  const second = await connectAs(t, relay, 'copy-b', keys);
  const third = await connect(t, relay);
  const error = await third.identify('copy-c', keys).then(() => null, (err: Error) => err);
  t.regex(String(error?.message), /RATE_LIMITED .*fighting over it/);
  await second.ping();
  t.is(relay.api.sessions.byAgentId(second.agentId!)?.name, 'copy-b', 'the session that won keeps the id');
});

test('ephemeral agents are never displaced, and their ids never look like a key\'s', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const agents = await Promise.all(Array.from({ length: 40 }, (_, i) => connectAs(t, relay, `e${i}`)));
  for (const a of agents) t.notRegex(a.agentId!, /^@[0-9a-f]{8}$/);
  await agents[0].ping();
});

test('a replayed signed MSG, resent from a new session of the same key, is refused with REPLAYED and not relayed', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const alice = await connectAs(t, relay, 'alice', keys);
  await alice.join('#general');
  const frame = signedMsg(keys, '#general', 'pay bob 5');
  alice.send(frame);
  t.is((await bob.next('MSG')).content, 'pay bob 5');
  alice.send(frame);
  await expectRefused(t, alice, 'REPLAYED', 'MSG');
  alice.terminate();
  const again = await connectAs(t, relay, 'alice', keys);
  await again.join('#general');
  again.send(frame);
  await expectRefused(t, again, 'REPLAYED', 'MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0, 'the replay reached no one');
  again.send(signedMsg(keys, '#general', 'pay bob 5'));
  t.is((await bob.next('MSG')).content, 'pay bob 5', 'the same words signed anew (new ts) go through');
});

test('IDENTIFY long_id gives a key the 16-hex id; the default stays the 0.3.x 8-hex one', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'longer', pubkey: keys.publicKey, long_id: true });
  const challenge = await c.next('CHALLENGE');
  c.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(challenge.server), String(challenge.nonce), c.url)), url: c.url });
  const welcome = await c.next('WELCOME');
  t.regex(String(welcome.agent_id), /^@[0-9a-f]{16}$/);
  t.true(String(welcome.agent_id).startsWith(expectedAgentId(keys.publicKey)));
  const client = new AgentChatClient({ server: `ws://127.0.0.1:${relay.port}`, identity: generateIdentity('lib'), longId: true });
  t.teardown(() => client.disconnect());
  t.regex((await client.connect()).agent_id, /^@[0-9a-f]{16}$/);
  const dm = await connectAs(t, relay, 'dm');
  dm.send({ type: 'MSG', to: String(welcome.agent_id), content: 'to a long id' });
  t.is((await c.next('MSG')).content, 'to a long id');
});

test('serve --public-url (repeatable) adds the URLs a proof may name; a bad one is a usage error', async (t) => {
  const { runCli, startServe } = await import('./helpers/cli.js');
  const serve = await startServe(t, ['--public-url', 'wss://agents.example.org', '--public-url', 'ws://10.0.0.5:7000/chat']);
  const keys = newKeyPair();
  for (const url of ['wss://agents.example.org:443', 'ws://10.0.0.5:7000/chat']) {
    const c = await connect(t, serve.port);
    c.send({ type: 'IDENTIFY', name: 'proxied', pubkey: keys.publicKey });
    const challenge = await c.next('CHALLENGE');
    c.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(challenge.server), String(challenge.nonce), url)), url });
    t.is((await c.next('WELCOME')).verified, true, url);
  }
  const bad = await runCli(t, ['serve', '--port', '0', '--public-url', 'https://agents.example.org']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--public-url not a ws:\/\/ or wss:\/\/ URL/);
});

test('an invitation is bound to the invitee\'s key: a colliding key that got the id cannot use it', async (t) => {
  const ids = collidingIds();
  const relay = await startRelay(t, { pluginOptions: { identity: { agentIdOf: ids.agentIdOf, maxRegisteredKeys: 1 } } });
  const [ownerKeys, bobKeys, grinderKeys] = [newKeyPair(), newKeyPair(), newKeyPair()];
  ids.assign(bobKeys.publicKey, '@b0b00000');
  ids.assign(grinderKeys.publicKey, '@b0b00000');
  const owner = await connectAs(t, relay, 'owner', ownerKeys);
  owner.send({ type: 'CREATE_CHANNEL', channel: '#vault', invite_only: true });
  await owner.next('JOINED');
  const bob = await connectAs(t, relay, 'bob', bobKeys);
  owner.send({ type: 'INVITE', channel: '#vault', agent: bob.agentId });
  await owner.next('INVITED');
  bob.terminate();
  await bob.closed;
  await connectAs(t, relay, 'someone', newKeyPair()); // the registry (of one) forgets bob
  const mallory = await connectAs(t, relay, 'mallory', grinderKeys);
  t.is(mallory.agentId, '@b0b00000');
  mallory.send({ type: 'JOIN', channel: '#vault' });
  const refused = await expectRefused(t, mallory, 'NOT_INVITED', 'JOIN');
  t.regex(String(refused.message), /belongs to another key/);
  mallory.terminate();
  await mallory.closed;
  await connectAs(t, relay, 'someone-else', newKeyPair()); // and forgets mallory
  const back = await connectAs(t, relay, 'bob', bobKeys);
  t.is((await back.join('#vault')).channel, '#vault', 'the invitee\'s own key still gets in');
});
