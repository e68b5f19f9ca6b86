/**
 * The browser's Ed25519 (tweetnacl, client/browser/keys.ts) against node:crypto, in Node:
 * one seed gives the same PEMs, agent id and signature bytes; identity files cross both
 * ways; the page's content negotiation. test/web-page.test.ts proves the same in Chromium.
 */
import test from 'ava';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { agentIdFromPem, keyPairFromSeed, pkcs8Pem, publicKeyFromText, seedFromPkcs8, signText, spkiPem, verifyText } from '../client/browser/keys.js';
import { sha256 } from '../client/browser/sha256.js';
import { checkMsgSignature } from '../client/browser/verify.js';
import { generateIdentity } from '../client/index.js';
import { prefersHtml } from '../plugins/health/negotiate.js';
import { agentIdFromPem as nodeAgentId, signString } from '../protocol/keys.js';
import { msgSigningString } from '../protocol/signing.js';

/** A Node key made from a seed: PKCS#8 DER is a fixed prefix and the seed. */
function nodeKeyFromSeed(seed: Buffer) {
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  return {
    privateKey,
    spki: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(),
    pkcs8: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const FIXED_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');

test('one seed: the same SPKI PEM, PKCS#8 PEM, agent id and signature bytes in tweetnacl as in node:crypto', (t) => {
  for (const seed of [FIXED_SEED, randomBytes(32), randomBytes(32)]) {
    const node = nodeKeyFromSeed(seed);
    const pair = keyPairFromSeed(seed);
    t.is(spkiPem(pair.publicKey), node.spki);
    t.is(pkcs8Pem(pair.seed), node.pkcs8);
    t.is(agentIdFromPem(spkiPem(pair.publicKey)), nodeAgentId(node.spki));
    t.is(agentIdFromPem(spkiPem(pair.publicKey), true), nodeAgentId(node.spki, true));
    for (const text of ['', 'AGENTCHAT-AUTH|relay|bm9uY2U=|ws://127.0.0.1:6667', msgSigningString('#general', 'héllo ✓ <script>', 1_700_000_000_000)]) {
      const sig = signText(pair.secretKey, text);
      t.is(sig, signString(node.privateKey, text), 'byte-identical signatures');
      t.true(verifyText(pair.publicKey, text, sig));
    }
  }
});

test('identity files cross both ways: a Node identity reads in the browser code, and back', (t) => {
  const nodeIdentity = generateIdentity('crossing');
  const seed = seedFromPkcs8(nodeIdentity.privkey);
  const pair = keyPairFromSeed(seed);
  t.is(spkiPem(pair.publicKey), nodeIdentity.pubkey);
  t.is(agentIdFromPem(nodeIdentity.pubkey), nodeIdentity.agentId);
  t.deepEqual(publicKeyFromText(nodeIdentity.pubkey), pair.publicKey);
  // And the browser's PEMs are keys node:crypto reads as the same pair.
  const fromBrowser = createPrivateKey(pkcs8Pem(seed));
  t.is(createPublicKey(fromBrowser).export({ type: 'spki', format: 'pem' }).toString(), spkiPem(pair.publicKey));
});

test('bad keys are refused with a reason: another algorithm, truncated DER, a public key given as private', (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  t.throws(() => publicKeyFromText(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()), { message: /not an Ed25519 SPKI key/ });
  t.throws(() => seedFromPkcs8(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), { message: /not an Ed25519 PKCS#8 key/ });
  const pem = spkiPem(keyPairFromSeed(FIXED_SEED).publicKey);
  t.throws(() => seedFromPkcs8(pem), { message: /PEM "PRIVATE KEY" block/ });
  t.throws(() => publicKeyFromText('-----BEGIN PUBLIC KEY-----\nMCowBQYDK2Vw\n-----END PUBLIC KEY-----\n'), { message: /not an Ed25519 SPKI key/ });
  t.throws(() => publicKeyFromText('not a key!'), { message: /PEM or base64/ });
  t.throws(() => keyPairFromSeed(new Uint8Array(31)), { message: /32 bytes, got 31/ });
  t.false(verifyText(keyPairFromSeed(FIXED_SEED).publicKey, 'x', 'not base64 at all!'));
});

test('sha256 in plain JS matches node:crypto around the block boundaries', (t) => {
  for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000]) {
    const data = randomBytes(length);
    t.is(Buffer.from(sha256(data)).toString('hex'), createHash('sha256').update(data).digest('hex'), `length ${length}`);
  }
});

test('a signed MSG checks against its sender key; changed content, another key or another id does not', (t) => {
  const alice = generateIdentity('alice');
  const mallory = generateIdentity('mallory');
  const ts = Date.now();
  const frame = { from: alice.agentId, to: '#general', content: 'pay 10', sig_ts: ts, sig: signString(alice.privateKey, msgSigningString('#general', 'pay 10', ts)) };
  t.deepEqual(checkMsgSignature(frame, alice.pubkey), { ok: true });
  t.deepEqual(checkMsgSignature({ ...frame, content: 'pay 1000' }, alice.pubkey), { ok: false, reason: 'bad-signature' });
  t.deepEqual(checkMsgSignature({ ...frame, sig_ts: ts + 1 }, alice.pubkey), { ok: false, reason: 'bad-signature' });
  // A relay handing out another key for alice's id is caught: that key does not hash to her id.
  t.deepEqual(checkMsgSignature(frame, mallory.pubkey), { ok: false, reason: 'key-mismatch' });
  t.deepEqual(checkMsgSignature({ ...frame, sig: undefined }, alice.pubkey), { ok: false, reason: 'unsigned' });
  t.deepEqual(checkMsgSignature(frame, 'garbage'), { ok: false, reason: 'bad-key' });
});

test('GET / negotiation: only an Accept preferring text/html to JSON gets the page', (t) => {
  t.true(prefersHtml('text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'));
  t.true(prefersHtml('text/html;q=0.9, application/json;q=0.5'));
  t.false(prefersHtml(undefined));
  t.false(prefersHtml('*/*'));
  t.false(prefersHtml('application/json'));
  t.false(prefersHtml('text/html, application/json'), 'a tie keeps the JSON document');
  t.false(prefersHtml('text/html;q=0'));
  t.false(prefersHtml('text/html;q=abc'));
});
