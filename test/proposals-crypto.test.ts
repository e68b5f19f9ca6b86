import test from 'ava';
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { acceptSigningString, agentIdFromPem, proposalCanonicalString, proposalSigningString, verifySignature, type ProposalSigningFields } from '../protocol/index.js';
import { connectAgent, startRelay } from './helpers/proposal-agents.js';

/** A key pair as the 0.3.x client makes and uses it: node:crypto, PEM keys, base64 signatures. */
function legacyKeys() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    pubkey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (text: string) => sign(null, Buffer.from(text), privateKey).toString('base64'),
  };
}

/** The 32-byte Ed25519 seed inside a node private key (the tail of its PKCS#8 DER). */
const seedOf = (privateKey: KeyObject): Uint8Array =>
  new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32));

test('a proposal signed the 0.3.x way (node:crypto, the canonical string built by hand) verifies, and so do its steps', async (t) => {
  // 0.3.x clients do not answer CHALLENGE: they run against a relay that allows unverified keys.
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const aliceKeys = legacyKeys();
  const bobKeys = legacyKeys();
  const alice = await connectAgent(t, relay, { identity: aliceKeys });
  const bob = await connectAgent(t, relay, { identity: bobKeys });

  const p = { to: bob.agentId, task: 'render the video', amount: 12.5, currency: 'USDC', payment_code: 'sol:abc', expires: 3600 };
  const sig = aliceKeys.sign([p.to, p.task, p.amount || '', p.currency || '', p.payment_code || '', p.expires || ''].join('|'));
  alice.send({ type: 'PROPOSAL', ...p, terms: 'half up front', sig });
  const received = await bob.next('PROPOSAL');
  t.like(received, { from: alice.agentId, sig, amount: 12.5, terms: 'half up front', expires_in: 3600 });
  // Anyone holding alice's public key can check the record from the frame alone.
  const fromFrame = proposalSigningString({ ...(received as unknown as ProposalSigningFields), expires: received.expires_in as number });
  t.true(verifySignature(createPublicKey(aliceKeys.pubkey), fromFrame, String(received.sig)));

  const id = String(received.id);
  bob.send({ type: 'ACCEPT', proposal_id: id, payment_code: 'sol:def', sig: bobKeys.sign(`ACCEPT|${id}|sol:def`) });
  const accepted = await alice.step('ACCEPT', id);
  t.like(accepted, { status: 'accepted', payment_code: 'sol:def', from: alice.agentId, to: bob.agentId, by: bob.agentId });
  t.true(verifySignature(createPublicKey(bobKeys.pubkey), acceptSigningString(id, 'sol:def'), String(accepted.sig)));
  alice.send({ type: 'COMPLETE', proposal_id: id, sig: aliceKeys.sign(`COMPLETE|${id}|`) });
  t.like(await bob.step('COMPLETE', id), { status: 'completed', proof: null });
});

test('tweetnacl and node:crypto agree: same seed, same public key, same signature, and the relay accepts either', async (t) => {
  const relay = await startRelay(t);
  const node = legacyKeys();
  const pair = nacl.sign.keyPair.fromSeed(seedOf(node.privateKey));
  const naclSign = (text: string) => Buffer.from(nacl.sign.detached(new TextEncoder().encode(text), pair.secretKey)).toString('base64');

  // The tweetnacl agent identifies with the raw 32-byte key (base64): the relay maps it to the same PEM and id.
  const alice = await connectAgent(t, relay, { identity: { pubkey: Buffer.from(pair.publicKey).toString('base64'), sign: naclSign } });
  t.is(alice.agentId, agentIdFromPem(node.pubkey));
  const bob = await connectAgent(t, relay);

  const canonical = `${bob.agentId}|audit the contract|100|USD||86400`;
  t.is(naclSign(canonical), node.sign(canonical), 'Ed25519 is deterministic: both libraries produce the same bytes');
  t.true(nacl.sign.detached.verify(Buffer.from(canonical), Buffer.from(node.sign(canonical), 'base64'), pair.publicKey));

  alice.send({ type: 'PROPOSAL', to: bob.agentId, task: 'audit the contract', amount: 100, currency: 'USD', expires: 86400, sig: naclSign(canonical) });
  const { id } = await bob.next('PROPOSAL');
  bob.accept(String(id));
  await alice.step('ACCEPT', String(id));
  alice.send({ type: 'DISPUTE', proposal_id: id, reason: 'scope changed', sig: node.sign(`DISPUTE|${String(id)}|scope changed`) });
  t.like(await bob.step('DISPUTE', String(id)), { status: 'disputed', by: alice.agentId });
});

test('an amount of 0 and a numeric-string amount sign exactly as 0.3.x builds them; 0 is kept as no amount, as it was signed', async (t) => {
  const relay = await startRelay(t);
  const keys = legacyKeys();
  const alice = await connectAgent(t, relay, { identity: keys });
  const bob = await connectAgent(t, relay);
  alice.send({ type: 'PROPOSAL', to: bob.agentId, task: 'free', amount: 0, sig: keys.sign(`${bob.agentId}|free||||`) });
  // In the '|' string 0 and no amount are the same bytes: the record says what the signature covers.
  t.like(await bob.next('PROPOSAL'), { task: 'free', amount: null });
  alice.send({ type: 'PROPOSAL', to: bob.agentId, task: 'paid', amount: '7.25', sig: keys.sign(`${bob.agentId}|paid|7.25|||`) });
  t.like(await bob.next('PROPOSAL'), { task: 'paid', amount: '7.25' });
});

test('the ambiguous 0.3.x pair no longer verifies as both: a field holding "|" is refused in that form', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const keys = legacyKeys();
  const alice = await connectAgent(t, relay, { identity: keys });
  const bob = await connectAgent(t, relay);
  // One '|' string, two readings: {task:"audit|500", currency:"USD"} and {task:"audit", amount:500, currency:"|USD"}.
  const sig = keys.sign(`${bob.agentId}|audit|500||USD||`);
  for (const [reading, field] of [[{ task: 'audit|500', currency: 'USD' }, 'task'], [{ task: 'audit', amount: 500, currency: '|USD' }, 'currency']] as const) {
    alice.send({ type: 'PROPOSAL', to: bob.agentId, ...reading, sig });
    const refused = await alice.next('ERROR');
    t.is(refused.code, 'INVALID_PROPOSAL');
    t.regex(String(refused.message), new RegExp(`"${field}" holds '\\|'.*sig_format "json"`));
  }
  // Without '|' in a field, the 0.3.x form still works.
  alice.send({ type: 'PROPOSAL', to: bob.agentId, task: 'audit', amount: 500, currency: 'USD', sig: keys.sign(`${bob.agentId}|audit|500|USD||`) });
  t.like(await bob.next('PROPOSAL'), { task: 'audit', amount: 500, currency: 'USD' });
});

test('the canonical form (sig_format "json") signs every field, terms included, and cannot be moved to another proposal', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const keys = legacyKeys();
  const alice = await connectAgent(t, relay, { identity: keys });
  const bob = await connectAgent(t, relay);
  const fields = { to: bob.agentId, task: 'audit|500', amount: 0, currency: 'USD', payment_code: null, terms: 'net 30', expires: null };
  const sig = keys.sign(proposalCanonicalString(fields));
  alice.send({ type: 'PROPOSAL', ...fields, sig, sig_format: 'json' });
  const proposal = await bob.next('PROPOSAL');
  t.like(proposal, { task: 'audit|500', amount: 0, terms: 'net 30', sig_format: 'json' });
  // Any field changed under the same signature is refused, terms included.
  for (const changed of [{ terms: 'net 90' }, { amount: 5 }, { task: 'audit' }, { currency: '|USD' }]) {
    alice.send({ type: 'PROPOSAL', ...fields, ...changed, sig, sig_format: 'json' });
    t.is((await alice.next('ERROR')).code, 'INVALID_SIGNATURE', JSON.stringify(changed));
  }
  // The same fields signed the 0.3.x way do not pass as canonical, nor the other way round.
  alice.send({ type: 'PROPOSAL', ...fields, sig });
  t.not((await alice.next('ERROR')).code, undefined);
});
