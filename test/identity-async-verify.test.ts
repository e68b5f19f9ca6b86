/**
 * Signed MSGs (and proposal steps) verified off the event loop, in batches on check threads:
 * each session's frames keep their order, a forged signature is still refused and never
 * relayed, the relay-wide bounds on checks in flight and waiting hold (RATE_LIMITED past
 * them), and a thread that dies loses no check.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import test from 'ava';
import { signatureVerifier } from '../plugins/identity/index.js';
import { BUSY, SignatureVerifier, type VerifyFn } from '../plugins/identity/verifier.js';
import type { Relay } from '../kernel/index.js';
import { connectAs, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, signedMsg, startRelay, type Frame, type RelayClient } from './helpers/relay-client.js';

const FAST = { rateMsg: { burst: 10_000, perSec: 10_000 } };

/** A verify whose answers the test gives: every call waits in `calls` until released. */
function heldVerify(): { fn: VerifyFn; calls: Array<{ data: Buffer; release: (ok: boolean) => void }>; called: () => Promise<void> } {
  const calls: Array<{ data: Buffer; release: (ok: boolean) => void }> = [];
  let wake: (() => void) | null = null;
  return {
    calls,
    fn: (_alg, data, _key, _sig, callback) => {
      calls.push({ data, release: (ok) => callback(null, ok) });
      wake?.();
    },
    called: () => new Promise<void>((resolve) => (wake = resolve)),
  };
}

/** Resolves once `condition` holds, checked after every turn of the event loop (the relay runs in this process). */
async function until(condition: () => boolean, what: string, maxTurns = 100_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

function keyAndSig(text: string): { key: KeyObject; sig: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { key: publicKey, sig: sign(null, Buffer.from(text), privateKey).toString('base64') };
}

test('the verifier hands at most maxInFlight checks to the pool, queues the next in order, and refuses past the queue bound', async (t) => {
  const held = heldVerify();
  const verifier = new SignatureVerifier({ maxInFlight: 2, maxQueued: 3, maxQueuedBytes: 1 << 20, verify: held.fn, inlineWhenIdle: false });
  const { key, sig } = keyAndSig('x');
  const answers = ['a', 'b', 'c', 'd', 'e'].map((text) => verifier.check(key, text, sig));
  t.true(answers.every((a) => a instanceof Promise));
  t.is(held.calls.length, 2, 'two handed to the pool');
  t.is(verifier.stats.queued, 3);
  t.is(verifier.check(key, 'f', sig), BUSY, 'the sixth finds the queue full');
  t.is(verifier.stats.refusedBusy, 1);
  // Each answer frees a slot for the oldest waiting check.
  held.calls[0].release(true);
  t.is(held.calls.length, 3);
  t.is(held.calls[2].data.toString(), 'c');
  held.calls[1].release(false);
  held.calls[2].release(true);
  held.calls[3].release(true);
  held.calls[4].release(false);
  t.deepEqual(held.calls.map((c) => c.data.toString()), ['a', 'b', 'c', 'd', 'e']);
  t.deepEqual(await Promise.all(answers), [true, false, true, true, false]);
  t.like(verifier.stats, { inFlight: 0, queued: 0, queuedBytes: 0, peakInFlight: 2, peakQueued: 3 });
});

test('the verifier bounds waiting checks by bytes too, and answers a malformed signature at once', (t) => {
  const held = heldVerify();
  const verifier = new SignatureVerifier({ maxInFlight: 1, maxQueued: 100, maxQueuedBytes: 10, verify: held.fn, inlineWhenIdle: false });
  const { key, sig } = keyAndSig('x');
  t.true(verifier.check(key, 'first', sig) instanceof Promise);
  t.true(verifier.check(key, '12345678', sig) instanceof Promise);
  t.is(verifier.check(key, '123', sig), BUSY, '8 + 3 bytes is past the 10-byte bound');
  t.is(verifier.check(key, 'x', 'not base64 of 64 bytes'), false);
  t.is(held.calls.length, 1);
});

test('a lone check while nothing waits runs on the loop at once; the next one in the same turn goes to a thread', async (t) => {
  const verifier = new SignatureVerifier({ maxInFlight: 4, maxQueued: 16, maxQueuedBytes: 1 << 20, threads: 1 });
  t.teardown(() => verifier.close());
  const { key, sig } = keyAndSig('signed text');
  t.is(verifier.check(key, 'signed text', sig), true, 'idle: answered on the loop');
  const second = verifier.check(key, 'signed text', sig);
  t.true(second instanceof Promise, 'the same turn: handed to a thread');
  t.true(await second);
  t.like(verifier.stats, { inline: 1, checked: 1 });
  // A later turn with nothing in flight is idle again.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(verifier.check(key, 'other text', sig), false);
  t.is(verifier.stats.inline, 2);
});

test('maxInFlight 0 verifies on the event loop: a boolean, never a promise', (t) => {
  const verifier = new SignatureVerifier({ maxInFlight: 0, maxQueued: 0, maxQueuedBytes: 0 });
  const { key, sig } = keyAndSig('signed text');
  t.is(verifier.check(key, 'signed text', sig), true);
  t.is(verifier.check(key, 'other text', sig), false);
});

test('a real check on a thread answers true for a good signature and false for a forged one, with libsodium and with node:crypto', async (t) => {
  for (const library of ['auto', 'node:crypto'] as const) {
    const verifier = new SignatureVerifier({ maxInFlight: 4, maxQueued: 16, maxQueuedBytes: 1 << 20, library, inlineWhenIdle: false });
    t.teardown(() => verifier.close());
    const { key, sig } = keyAndSig('signed text');
    const good = verifier.check(key, 'signed text', sig);
    const forged = verifier.check(key, 'signed text', keyAndSig('signed text').sig);
    const tampered = verifier.check(key, 'signed text!', sig);
    t.true(good instanceof Promise);
    t.deepEqual(await Promise.all([good, forged, tampered]), [true, false, false], library);
    // sodium-native is in the lockfile (an optional dependency): where it installs, 'auto' uses it.
    t.is(verifier.library, library === 'auto' ? 'libsodium' : 'node:crypto');
  }
});

test('checks that wait while the thread is busy go to it together, each answered for itself and in order', async (t) => {
  const verifier = new SignatureVerifier({ maxInFlight: 1000, maxQueued: 1000, maxQueuedBytes: 1 << 20, threads: 1, maxBatch: 64, inlineWhenIdle: false });
  t.teardown(() => verifier.close());
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const texts = Array.from({ length: 200 }, (_, i) => `message ${i} ${'é'.repeat(i % 7)}`);
  // Every third signature is over other text: its answer must be false, and only its own.
  const answers = texts.map((text, i) => verifier.check(publicKey, text, sign(null, Buffer.from(i % 3 === 0 ? `${text}?` : text), privateKey).toString('base64')));
  t.deepEqual(await Promise.all(answers), texts.map((_, i) => i % 3 !== 0));
  t.is(verifier.stats.checked, 200);
  // The first check went alone (an idle thread takes it at once); the rest waited and shared wake-ups.
  t.true(verifier.stats.batches <= 1 + Math.ceil(199 / 64) + 2, `${verifier.stats.batches} batches for 200 checks`);
  // A thread has at most two batches: the one it works on and the next, so it never waits for the loop.
  t.true(verifier.stats.peakInFlight <= 2 * 64, `peak in flight ${verifier.stats.peakInFlight}`);
});

test('a check thread that dies mid-batch loses no check: its batch and the waiting ones are answered on the loop or by a new thread', async (t) => {
  const verifier = new SignatureVerifier({ maxInFlight: 1000, maxQueued: 1000, maxQueuedBytes: 1 << 20, threads: 1, inlineWhenIdle: false });
  t.teardown(() => verifier.close());
  const { key, sig } = keyAndSig('signed text');
  const first = verifier.check(key, 'signed text', sig);
  const rest = Array.from({ length: 20 }, (_, i) => verifier.check(key, i % 2 === 0 ? 'signed text' : 'other', sig));
  // The thread the first check went to is killed before it can answer.
  const lanes = (verifier as unknown as { lanes: Array<{ worker: { terminate(): Promise<number> } }> }).lanes;
  t.is(lanes.length, 1);
  await lanes[0].worker.terminate();
  t.deepEqual(await Promise.all([first, ...rest]), [true, ...rest.map((_, i) => i % 2 === 0)]);
  t.like(verifier.stats, { inFlight: 0, queued: 0 });
  // The verifier goes on with a new thread.
  t.is(await verifier.check(key, 'signed text', sig), true);
});

/** MSG contents per sender as a receiver saw them, in arrival order. */
function bySender(frames: Frame[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of frames) {
    if (f.type !== 'MSG') continue;
    const list = out.get(String(f.from)) ?? [];
    list.push(String(f.content));
    out.set(String(f.from), list);
  }
  return out;
}

async function signers(t: Parameters<typeof connectAs>[0], relay: Relay, n: number): Promise<Array<{ client: RelayClient; keys: ReturnType<typeof newKeyPair> }>> {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const keys = newKeyPair();
    const client = await connectAs(t, relay, `signer${i}`, keys);
    await client.join('#general');
    return { client, keys };
  }));
}

test('concurrent signed senders: every session\'s MSGs arrive in the order sent, with at most maxVerifiesInFlight checks at once', async (t) => {
  const relay = await startRelay(t, { ...FAST, pluginOptions: { limits: NO_ADDRESS_LIMITS, identity: { maxVerifiesInFlight: 2, verifyInlineWhenIdle: false } } });
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const senders = await signers(t, relay, 6);
  const PER_SENDER = 25;
  // All written at once: six sessions' checks compete for two slots, each session's later frames wait behind its first.
  for (let seq = 0; seq < PER_SENDER; seq++) {
    for (const { client, keys } of senders) client.send(signedMsg(keys, '#general', `m${seq}`));
  }
  const total = senders.length * PER_SENDER;
  await until(() => bob.received.filter((f) => f.type === 'MSG').length >= total, `${total} MSGs at bob`);
  const seen = bySender(bob.received);
  const expected = Array.from({ length: PER_SENDER }, (_, seq) => `m${seq}`);
  for (const { client } of senders) t.deepEqual(seen.get(client.agentId), expected, `order of ${client.agentId}`);
  const stats = signatureVerifier(relay.api)!;
  t.true(stats.peakInFlight >= 1, 'the checks ran on the pool');
  t.true(stats.peakInFlight <= 2, `peak in flight ${stats.peakInFlight}`);
  t.is(stats.inFlight, 0);
  for (const { client } of senders) t.is(client.pending('ERROR').length, 0);
});

test('a forged signature between good ones is refused and never relayed; the good ones keep their order', async (t) => {
  const relay = await startRelay(t, { ...FAST, pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const [alice, carol] = await signers(t, relay, 2);
  alice.client.send(signedMsg(alice.keys, '#general', 'a1'));
  carol.client.send(signedMsg(carol.keys, '#general', 'c1'));
  alice.client.send(signedMsg(newKeyPair(), '#general', 'forged by a stranger'));
  alice.client.send({ ...signedMsg(alice.keys, '#general', 'original'), content: 'tampered' });
  carol.client.send(signedMsg(carol.keys, '#general', 'c2'));
  alice.client.send(signedMsg(alice.keys, '#general', 'a2'));
  const first = await alice.client.next('ERROR');
  t.is(first.code, 'INVALID_SIGNATURE');
  t.is(first.ref, 'MSG');
  await expectRefused(t, alice.client, 'INVALID_SIGNATURE', 'MSG');
  await until(() => bob.received.filter((f) => f.type === 'MSG').length >= 4, '4 MSGs at bob');
  await bob.ping();
  const seen = bySender(bob.received);
  t.deepEqual(seen.get(alice.client.agentId), ['a1', 'a2']);
  t.deepEqual(seen.get(carol.client.agentId), ['c1', 'c2']);
  t.false(bob.received.some((f) => f.type === 'MSG' && /forged|tampered/.test(String(f.content))));
});

test('past the queue bound a signed MSG gets RATE_LIMITED with retry_after_ms and is not relayed; the waiting ones go through', async (t) => {
  const held = heldVerify();
  const relay = await startRelay(t, {
    ...FAST,
    pluginOptions: { limits: NO_ADDRESS_LIMITS, identity: { maxVerifiesInFlight: 1, maxQueuedVerifies: 1, verifyFn: held.fn, verifyInlineWhenIdle: false } },
  });
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const [a, b, c] = await signers(t, relay, 3);
  const stats = signatureVerifier(relay.api)!;
  const called = held.called();
  a.client.send(signedMsg(a.keys, '#general', 'in flight'));
  await called;
  b.client.send(signedMsg(b.keys, '#general', 'queued'));
  await until(() => stats.queued === 1, 'one check queued');
  c.client.send(signedMsg(c.keys, '#general', 'no room'));
  const refused = await c.client.next('ERROR');
  t.is(refused.code, 'RATE_LIMITED');
  t.is(refused.ref, 'MSG');
  t.is(typeof refused.retry_after_ms, 'number');
  // The real verify answers for the held ones (their signatures are good).
  held.calls[0].release(true);
  await until(() => held.calls.length === 2, 'the queued check started');
  held.calls[1].release(true);
  await until(() => bob.received.filter((f) => f.type === 'MSG').length >= 2, '2 MSGs at bob');
  await bob.ping();
  t.deepEqual(bob.received.filter((f) => f.type === 'MSG').map((f) => f.content), ['in flight', 'queued']);
  t.like(stats, { inFlight: 0, queued: 0, peakInFlight: 1, peakQueued: 1, refusedBusy: 1 });
});

/** A relay whose checks the test answers (`held`), a reader bob and a signer alice in #general, and the first check's arrival. */
async function heldSignerAndReader(t: Parameters<typeof connectAs>[0]) {
  const held = heldVerify();
  const relay = await startRelay(t, { ...FAST, pluginOptions: { limits: NO_ADDRESS_LIMITS, identity: { verifyFn: held.fn, verifyInlineWhenIdle: false } } });
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  const [alice] = await signers(t, relay, 1);
  return { held, bob, alice, called: held.called() };
}

test('signed MSGs waiting behind a pending check have their checks started early, and each is still judged on its own', async (t) => {
  const { held, bob, alice, called } = await heldSignerAndReader(t);
  alice.client.send(signedMsg(alice.keys, '#general', 'm0'));
  await called;
  // m1..m3 wait behind m0; the forged one and the tampered one too (a tampered frame's check is of what it says).
  alice.client.send(signedMsg(alice.keys, '#general', 'm1'));
  alice.client.send(signedMsg(newKeyPair(), '#general', 'forged'));
  alice.client.send({ ...signedMsg(alice.keys, '#general', 'original'), content: 'tampered' });
  alice.client.send(signedMsg(alice.keys, '#general', 'm2'));
  await until(() => held.calls.length === 5, 'five checks started while m0 is pending');
  t.deepEqual(held.calls.map((c) => JSON.parse(c.data.toString()).content), ['m0', 'm1', 'forged', 'tampered', 'm2']);
  // Answered out of order: the frames still go in order, and the bad two are refused.
  for (const i of [4, 2, 1, 3]) held.calls[i].release(i === 1 || i === 4);
  t.is(bob.received.filter((f) => f.type === 'MSG').length, 0, 'nothing before m0 is answered');
  held.calls[0].release(true);
  await until(() => bob.received.filter((f) => f.type === 'MSG').length >= 3, '3 MSGs at bob');
  await bob.ping();
  t.deepEqual(bob.received.filter((f) => f.type === 'MSG').map((f) => f.content), ['m0', 'm1', 'm2']);
  t.is((await alice.client.next('ERROR')).code, 'INVALID_SIGNATURE');
  t.is((await alice.client.next('ERROR')).code, 'INVALID_SIGNATURE');
  t.is(held.calls.length, 5, 'no frame was checked twice');
});

test('unsigned MSGs are not held behind a pending verification of another session', async (t) => {
  const { held, bob, alice, called } = await heldSignerAndReader(t);
  alice.client.send(signedMsg(alice.keys, '#general', 'signed, pending'));
  await called;
  bob.send({ type: 'MSG', to: '#general', content: 'plain' });
  const plain = await bob.next('MSG');
  t.is(plain.content, 'plain');
  held.calls[0].release(true);
  t.is((await bob.next('MSG')).content, 'signed, pending');
});
