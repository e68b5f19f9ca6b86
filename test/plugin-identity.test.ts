/**
 * identity plugin: IDENTIFY, ephemeral and persistent ids, proof of key
 * possession (CHALLENGE/VERIFY), one live session per key, verified MSG
 * signatures, WHOIS.
 */
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { rawPublicKeyBase64, signString, verifySignature } from '../protocol/keys.js';
import { authSigningString, msgSigningString } from '../protocol/signing.js';
import { connect, connectAs, expectedAgentId, expectRefused, newKeyPair, signedMsg, startRelay } from './helpers/relay-client.js';

const FIVE_MIN = 5 * 60 * 1000;

test('IDENTIFY without a key gets WELCOME with a random ephemeral id, the server name and the name', async (t) => {
  const relay = await startRelay(t, { serverName: 'test-relay' });
  const alice = await connect(t, relay);
  const welcome = await alice.identify('alice');
  t.regex(String(welcome.agent_id), /^@[a-z0-9]{8}$/);
  t.is(welcome.server, 'test-relay');
  t.is(welcome.name, 'alice');
  t.false('verified' in welcome);
  const again = await connect(t, relay);
  const second = await again.identify('alice');
  t.not(second.agent_id, welcome.agent_id, 'ephemeral ids are not reused by name');
});

test('IDENTIFY with a key is answered with CHALLENGE {nonce, server}', async (t) => {
  const relay = await startRelay(t, { serverName: 'test-relay' });
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'alice', pubkey: newKeyPair().publicKey });
  const challenge = await c.next('CHALLENGE');
  t.is(challenge.server, 'test-relay');
  t.is(Buffer.from(String(challenge.nonce), 'base64').length, 32);
  t.is(relay.api.sessions.identifiedCount, 0, 'not admitted before VERIFY');
  c.send({ type: 'JOIN', channel: '#general' });
  await expectRefused(t, c, 'AUTH_REQUIRED', 'JOIN');
});

test('a valid VERIFY gets WELCOME verified:true with the id derived from the key', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connect(t, relay);
  const welcome = await alice.identify('alice', keys);
  t.is(welcome.verified, true);
  t.is(welcome.agent_id, expectedAgentId(keys.publicKey));
  t.regex(String(welcome.agent_id), /^@[0-9a-f]{8}$/);
});

test('the id is the first 8 hex of sha256 over the SPKI PEM text', async (t) => {
  const relay = await startRelay(t);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const id = '@' + createHash('sha256').update(pem).digest('hex').slice(0, 8);
  const c = await connect(t, relay);
  const welcome = await c.identify('alice', { publicKey: pem, privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
  t.is(welcome.agent_id, id);
});

test('the same key sent as PEM and as raw 32-byte base64 maps to the same id', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const raw = rawPublicKeyBase64(createPublicKey(keys.publicKey));
  t.is(Buffer.from(raw, 'base64').length, 32);
  const viaPem = await connect(t, relay);
  const first = await viaPem.identify('alice', keys);
  await viaPem.close();
  const viaRaw = await connect(t, relay);
  const second = await viaRaw.identify('alice', keys, raw);
  t.is(second.agent_id, first.agent_id);
  t.is(second.verified, true);
  // WHOIS shows the canonical PEM whatever encoding was sent.
  viaRaw.send({ type: 'WHOIS', agent: second.agent_id });
  t.is((await viaRaw.next('WHOIS')).pubkey, createPublicKey(keys.publicKey).export({ type: 'spki', format: 'pem' }).toString());
});

test('a PEM with surrounding whitespace maps to the same id', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const c = await connect(t, relay);
  const welcome = await c.identify('alice', keys, `\n  ${keys.publicKey}\n\n`);
  t.is(welcome.agent_id, expectedAgentId(keys.publicKey));
});

test('a wrong VERIFY gets ERROR VERIFY_FAILED and a close with 1008', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'mallory', pubkey: newKeyPair().publicKey });
  const challenge = await c.next('CHALLENGE');
  // Signed with another key: the claimed key's owner is not the sender.
  c.send({ type: 'VERIFY', sig: signString(newKeyPair().privateKey, authSigningString(String(challenge.server), String(challenge.nonce), c.url)), url: c.url });
  const error = await c.error('VERIFY_FAILED');
  t.is(error.ref, 'VERIFY');
  t.is((await c.closed).code, 1008);
  t.is(relay.api.sessions.size, 0);
});

test('a VERIFY over the wrong string (another nonce) gets VERIFY_FAILED', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'alice', pubkey: keys.publicKey });
  const challenge = await c.next('CHALLENGE');
  c.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(challenge.server), 'another-nonce', c.url)), url: c.url });
  await c.error('VERIFY_FAILED');
  t.is((await c.closed).code, 1008);
});

test('a VERIFY that is not a signature at all gets VERIFY_FAILED', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'alice', pubkey: newKeyPair().publicKey });
  await c.next('CHALLENGE');
  c.send({ type: 'VERIFY', sig: 'not-a-signature' });
  await c.error('VERIFY_FAILED');
  t.is((await c.closed).code, 1008);
});

test('no VERIFY within verifyTimeoutMs gets VERIFY_FAILED and a close with 1008', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { verifyTimeoutMs: 100 } } });
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'alice', pubkey: newKeyPair().publicKey });
  await c.next('CHALLENGE');
  const error = await c.error('VERIFY_FAILED');
  t.regex(String(error.message), /VERIFY/);
  t.is((await c.closed).code, 1008);
  t.is(relay.api.sessions.size, 0);
});

test('VERIFY without a pending CHALLENGE is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.send({ type: 'VERIFY', sig: 'x'.repeat(88) });
  await expectRefused(t, c, 'INVALID_MSG', 'VERIFY');
});

test('a second IDENTIFY is refused with INVALID_MSG and the first identity stays', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'IDENTIFY', name: 'alice2' });
  await expectRefused(t, alice, 'INVALID_MSG', 'IDENTIFY');
  t.is(relay.api.sessions.byAgentId(alice.agentId)?.name, 'alice');
  t.is(relay.api.sessions.identifiedCount, 1);
});

test('a second IDENTIFY while a CHALLENGE is pending is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'alice', pubkey: keys.publicKey });
  const challenge = await c.next('CHALLENGE');
  c.send({ type: 'IDENTIFY', name: 'alice' });
  await expectRefused(t, c, 'INVALID_MSG', 'IDENTIFY');
  // The pending challenge can still be answered.
  c.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(challenge.server), String(challenge.nonce), c.url)), url: c.url });
  t.is((await c.next('WELCOME')).verified, true);
});

test('invalid agent names are refused with INVALID_NAME', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  for (const name of ['', 'a'.repeat(33), 'has space', 'émile', 'semi;colon', '#chan', '@id', 42, null]) {
    c.send({ type: 'IDENTIFY', name });
    await expectRefused(t, c, 'INVALID_NAME', 'IDENTIFY');
  }
  t.is(relay.api.sessions.identifiedCount, 0);
  const welcome = await c.identify('a'.repeat(32));
  t.is(welcome.name, 'a'.repeat(32));
});

test('IDENTIFY without a name is refused naming the field', async (t) => {
  const relay = await startRelay(t);
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY' });
  const error = await c.next('ERROR');
  t.regex(String(error.message), /"name"/);
  await c.ping();
});

test('a pubkey that is not an Ed25519 key is refused with INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const c = await connect(t, relay);
  for (const pubkey of ['not a key', '-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----', rsa, Buffer.alloc(31).toString('base64'), 12]) {
    c.send({ type: 'IDENTIFY', name: 'alice', pubkey });
    await expectRefused(t, c, 'INVALID_MSG', 'IDENTIFY');
  }
  t.is(relay.api.sessions.identifiedCount, 0);
});

test('without proof (allowUnverifiedKeys) a second session with the same key is refused with INVALID_MSG; the first is unaffected', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const keys = newKeyPair();
  const first = await connectAs(t, relay, 'alice', keys);
  await first.join('#general');
  const second = await connect(t, relay);
  second.send({ type: 'IDENTIFY', name: 'alice', pubkey: keys.publicKey });
  const error = await expectRefused(t, second, 'INVALID_MSG', 'IDENTIFY');
  t.regex(String(error.message), /already connected/);
  t.is(second.pending('CHALLENGE').length, 0);
  // The first session still owns the id: DMs to it reach it, and it still talks.
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'MSG', to: first.agentId, content: 'still you?' });
  t.is((await first.next('MSG')).content, 'still you?');
  first.send({ type: 'MSG', to: '#general', content: 'yes' });
  t.is((await first.next('MSG')).content, 'yes');
  t.is(relay.api.sessions.byAgentId(first.agentId)?.name, 'alice');
});

test('without proof a second session with the same key sent as raw base64 is refused too', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const keys = newKeyPair();
  const first = await connectAs(t, relay, 'alice', keys);
  const second = await connect(t, relay);
  second.send({ type: 'IDENTIFY', name: 'alice', pubkey: rawPublicKeyBase64(createPublicKey(keys.publicKey)) });
  await expectRefused(t, second, 'INVALID_MSG', 'IDENTIFY');
  await first.ping();
});

test('two sessions racing to VERIFY the same key: the later proof displaces the earlier session', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const [a, b] = [await connect(t, relay), await connect(t, relay)];
  a.send({ type: 'IDENTIFY', name: 'alice', pubkey: keys.publicKey });
  b.send({ type: 'IDENTIFY', name: 'alice', pubkey: keys.publicKey });
  const [ca, cb] = [await a.next('CHALLENGE'), await b.next('CHALLENGE')];
  a.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(ca.server), String(ca.nonce), a.url)), url: a.url });
  await a.next('WELCOME');
  b.send({ type: 'VERIFY', sig: signString(keys.privateKey, authSigningString(String(cb.server), String(cb.nonce), b.url)), url: b.url });
  await b.next('WELCOME');
  t.is((await a.next('SESSION_DISPLACED')).type, 'SESSION_DISPLACED');
  t.is((await a.closed).code, 4001);
  t.is(relay.api.sessions.identifiedCount, 1);
  await b.ping();
});

test('a key is usable again once its session closed', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const first = await connectAs(t, relay, 'alice', keys);
  await first.close();
  const second = await connectAs(t, relay, 'alice', keys);
  t.is(second.agentId, first.agentId);
});

test('with allowUnverifiedKeys there is no CHALLENGE and WELCOME says verified:false', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const keys = newKeyPair();
  const c = await connect(t, relay);
  c.send({ type: 'IDENTIFY', name: 'old-client', pubkey: keys.publicKey });
  const welcome = await c.next(['WELCOME', 'CHALLENGE']);
  t.is(welcome.type, 'WELCOME');
  t.is(welcome.verified, false);
  t.is(welcome.agent_id, expectedAgentId(keys.publicKey));
  // One live session per key holds here too.
  const dup = await connect(t, relay);
  dup.send({ type: 'IDENTIFY', name: 'copycat', pubkey: keys.publicKey });
  await expectRefused(t, dup, 'INVALID_MSG', 'IDENTIFY');
});

test('a signed channel MSG reaches receivers with sig and sig_ts that verify against the sender key', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  const sent = signedMsg(keys, '#general', 'signed hello');
  alice.send(sent);
  const msg = await bob.next('MSG');
  t.is(msg.sig, sent.sig);
  t.is(msg.sig_ts, sent.ts);
  t.is(msg.from, alice.agentId);
  // The receiver verifies with the key WHOIS gives it.
  bob.send({ type: 'WHOIS', agent: String(msg.from) });
  const whois = await bob.next('WHOIS');
  const key = createPublicKey(String(whois.pubkey));
  t.true(verifySignature(key, msgSigningString(String(msg.to), String(msg.content), Number(msg.sig_ts)), String(msg.sig)));
  t.false(verifySignature(key, msgSigningString(String(msg.to), 'tampered', Number(msg.sig_ts)), String(msg.sig)));
});

test('a signed DM reaches the target with sig and sig_ts', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  const bob = await connectAs(t, relay, 'bob');
  const sent = signedMsg(keys, bob.agentId, 'for you only');
  alice.send(sent);
  const msg = await bob.next('MSG');
  t.true(verifySignature(createPublicKey(keys.publicKey), msgSigningString(bob.agentId, 'for you only', Number(msg.sig_ts)), String(msg.sig)));
  const echo = await alice.next('MSG');
  t.is(echo.sig, sent.sig);
});

test('a forged signature is refused with INVALID_SIGNATURE and nothing is relayed', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  // Signed by someone else's key.
  alice.send(signedMsg(newKeyPair(), '#general', 'forged'));
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  // Signed by the right key over other content.
  const tampered = { ...signedMsg(keys, '#general', 'original'), content: 'tampered' };
  alice.send(tampered);
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  // Signed for another target.
  alice.send({ ...signedMsg(keys, '#agents', 'elsewhere'), to: '#general' });
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  // A signature that is not base64 of 64 bytes.
  alice.send({ type: 'MSG', to: '#general', content: 'junk sig', ts: Date.now(), sig: 'abc' });
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
  t.is(alice.pending('MSG').length, 0);
});

test('a forged signature on a DM is not relayed to the target', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice', newKeyPair());
  const bob = await connectAs(t, relay, 'bob');
  alice.send(signedMsg(newKeyPair(), bob.agentId, 'forged dm'));
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('a sig from a session without a key is refused with INVALID_SIGNATURE', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send(signedMsg(newKeyPair(), '#general', 'keyless but signed'));
  const error = await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
  t.regex(String(error.message), /key/);
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('a signed ts more than 5 minutes from server time is refused with INVALID_SIGNATURE', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  for (const ts of [Date.now() - FIVE_MIN - 10_000, Date.now() + FIVE_MIN + 10_000]) {
    alice.send(signedMsg(keys, '#general', 'stale or future', ts));
    const error = await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
    t.regex(String(error.message), /ts|clock|time/);
  }
  // Well within the window is fine.
  alice.send(signedMsg(keys, '#general', 'a little off', Date.now() - 60_000));
  t.is((await bob.next('MSG')).content, 'a little off');
  t.is(bob.pending('MSG').length, 0);
});

test('a signed MSG without its ts is refused with INVALID_SIGNATURE', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  await alice.join('#general');
  const { ts: _ts, ...withoutTs } = signedMsg(keys, '#general', 'no ts');
  alice.send(withoutTs);
  await expectRefused(t, alice, 'INVALID_SIGNATURE', 'MSG');
});

test('an unsigned MSG from a keyed session is relayed without sig', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice', newKeyPair());
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'plain', ts: Date.now() });
  const msg = await alice.next('MSG');
  t.false('sig' in msg);
  t.false('sig_ts' in msg);
});

test('WHOIS of a keyed agent gives {agent, name, pubkey, verified}', async (t) => {
  const relay = await startRelay(t);
  const keys = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', keys);
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'WHOIS', agent: alice.agentId });
  const whois = await bob.next('WHOIS');
  t.is(whois.agent, alice.agentId);
  t.is(whois.name, 'alice');
  t.is(whois.pubkey, createPublicKey(keys.publicKey).export({ type: 'spki', format: 'pem' }).toString());
  t.is(whois.verified, true);
  t.is(expectedAgentId(String(whois.pubkey)), alice.agentId);
});

test('WHOIS of an ephemeral agent gives pubkey null and verified false', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'WHOIS', agent: alice.agentId });
  const whois = await alice.next('WHOIS');
  t.deepEqual({ ...whois, ts: 0 }, { type: 'WHOIS', agent: alice.agentId, name: 'alice', pubkey: null, verified: false, ts: 0 });
});

test('WHOIS of an unverified key says verified false', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const alice = await connectAs(t, relay, 'alice', newKeyPair());
  alice.send({ type: 'WHOIS', agent: alice.agentId });
  const whois = await alice.next('WHOIS');
  t.is(whois.verified, false);
  t.is(typeof whois.pubkey, 'string');
});

test('WHOIS of an agent that is not connected is refused with AGENT_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'WHOIS', agent: '@00000000' });
  await expectRefused(t, alice, 'AGENT_NOT_FOUND', 'WHOIS');
  alice.send({ type: 'WHOIS', agent: 'alice' });
  await expectRefused(t, alice, 'INVALID_MSG', 'WHOIS');
});
