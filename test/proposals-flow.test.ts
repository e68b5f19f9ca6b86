import test from 'ava';
import { createPublicKey } from 'node:crypto';
import { acceptSigningString, completeSigningString, generateKeyPair, ProposalReason, proposalSigningString, verifySignature } from '../protocol/index.js';
import { connectAgent, startRelay } from './helpers/proposal-agents.js';

test('propose → accept → complete: both parties see every step with the actor and its signature', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay, { name: 'alice' });
  const bob = await connectAgent(t, relay, { name: 'bob' });

  const before = Date.now();
  const fields = { to: bob.agentId, task: 'summarize the logs', amount: 25, currency: 'USD', payment_code: 'pay-alice', terms: 'within a day', expires: 3600 };
  const echo = await alice.proposeAndWait(fields);
  const received = await bob.next('PROPOSAL');
  t.deepEqual(received, echo, 'recipient and sender see the same PROPOSAL frame');
  t.regex(echo.id, /^prop_[0-9a-z]+_[0-9a-f]{8}$/);
  t.like(echo, { from: alice.agentId, to: bob.agentId, task: 'summarize the logs', amount: 25, currency: 'USD', payment_code: 'pay-alice', terms: 'within a day', status: 'pending' });
  t.true(echo.created_at >= before && echo.created_at <= Date.now());
  t.is(echo.expires, echo.created_at + 3_600_000, 'expires is absolute ms on the wire');
  t.is(typeof echo.sig, 'string');
  t.is(typeof echo.ts, 'number');

  bob.accept(echo.id, 'pay-bob');
  for (const agent of [alice, bob]) {
    const accept = await agent.step('ACCEPT', echo.id);
    t.like(accept, { proposal_id: echo.id, status: 'accepted', by: bob.agentId, payment_code: 'pay-bob' });
    t.is(typeof accept.sig, 'string');
    t.true(accept.updated_at >= echo.created_at);
  }

  alice.complete(echo.id, 'https://example.org/report');
  for (const agent of [alice, bob]) {
    t.like(await agent.step('COMPLETE', echo.id), { proposal_id: echo.id, status: 'completed', by: alice.agentId, proof: 'https://example.org/report' });
  }
});

test('propose → reject: both see the reason, and the proposal can no longer be accepted', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'translate' });
  const received = await bob.next('PROPOSAL');
  t.like(received, { id, amount: null, currency: null, payment_code: null, terms: null, expires_in: null });
  t.is(received.expires, Number(received.created_at) + 7 * 24 * 3600 * 1000, 'without expires a proposal expires after the default 7 days');

  bob.reject(id, 'too busy');
  for (const agent of [alice, bob]) {
    t.like(await agent.step('REJECT', id), { proposal_id: id, status: 'rejected', by: bob.agentId, reason: 'too busy' });
  }

  bob.accept(id);
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_PENDING, ref: 'ACCEPT' });
  await alice.sync();
  t.deepEqual(alice.pending('ACCEPT'), [], 'a refused step reaches nobody');
});

test('accept → dispute by the recipient; a disputed proposal cannot be completed', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'label images', amount: '3.5', currency: 'EUR' });
  bob.accept(id);
  await bob.step('ACCEPT', id);
  await alice.step('ACCEPT', id);

  bob.dispute(id, 'the images never arrived');
  for (const agent of [alice, bob]) {
    t.like(await agent.step('DISPUTE', id), { proposal_id: id, status: 'disputed', by: bob.agentId, reason: 'the images never arrived' });
  }

  alice.complete(id);
  t.like(await alice.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_ACCEPTED, ref: 'COMPLETE' });
});

test('a reconnecting recipient lists what is pending for it and can still accept it', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bobKeys = generateKeyPair();
  const bob = await connectAgent(t, relay, { keys: bobKeys });
  const first = await alice.proposeAndWait({ to: bob.agentId, task: 'first' });
  const second = await alice.proposeAndWait({ to: bob.agentId, task: 'second' });
  bob.reject(second.id);
  await bob.step('REJECT', second.id);
  await bob.close();

  const again = await connectAgent(t, relay, { keys: bobKeys });
  t.is(again.agentId, bob.agentId, 'the same key is the same persistent id');
  const pending = await again.list({ status: 'pending' });
  t.deepEqual(pending.list.map((p) => p.id), [first.id]);
  t.like(pending.list[0], { from: alice.agentId, to: bob.agentId, task: 'first', status: 'pending' });

  const all = await again.list();
  t.deepEqual(all.list.map((p) => p.id), [second.id, first.id], 'newest first');
  t.deepEqual((await again.list({ role: 'proposer' })).list, [], 'bob proposed nothing');
  t.is((await again.list({ role: 'recipient' })).list.length, 2);
  t.is((await alice.list({ role: 'proposer', status: 'rejected' })).list[0].id, second.id);

  again.accept(first.id);
  t.like(await again.step('ACCEPT', first.id), { status: 'accepted' });
  t.like(await alice.step('ACCEPT', first.id), { status: 'accepted', by: bob.agentId });
});

test('a step reaches the connected party only; the other finds it in its list after reconnecting', async (t) => {
  const relay = await startRelay(t);
  const aliceKeys = generateKeyPair();
  const alice = await connectAgent(t, relay, { keys: aliceKeys });
  const bob = await connectAgent(t, relay);
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'index the wiki' });
  await alice.close();

  bob.accept(id, 'pay-here');
  t.like(await bob.step('ACCEPT', id), { status: 'accepted' });

  const back = await connectAgent(t, relay, { keys: aliceKeys });
  const { list } = await back.list();
  t.like(list[0], { id, status: 'accepted' });
  t.is(typeof list[0].updated_at, 'number');
});

test('an agent lists only its own proposals', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const carol = await connectAgent(t, relay);
  await alice.proposeAndWait({ to: bob.agentId, task: 'private work' });
  const { list } = await carol.list();
  t.deepEqual(list, []);
});

test('a listed proposal carries its signed steps, each verifiable with the actor key alone', async (t) => {
  const relay = await startRelay(t);
  const aliceKeys = generateKeyPair();
  const bobKeys = generateKeyPair();
  const alice = await connectAgent(t, relay, { keys: aliceKeys });
  const bob = await connectAgent(t, relay, { keys: bobKeys });
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'index the archive', expires: 600 });
  bob.accept(id, 'pay-bob');
  await alice.step('ACCEPT', id);
  alice.complete(id, 'sha256:feed');
  await bob.step('COMPLETE', id);

  const [record] = (await bob.list({ status: 'completed' })).list;
  t.like(record, { id, status: 'completed' });
  const steps = record.steps ?? [];
  t.deepEqual(steps.map((s) => [s.type, s.by]), [['ACCEPT', bob.agentId], ['COMPLETE', alice.agentId]]);
  const keyOf = (agentId: string) => createPublicKey(agentId === bob.agentId ? bobKeys.publicKey : aliceKeys.publicKey);
  t.true(verifySignature(keyOf(steps[0].by), acceptSigningString(id, steps[0].payment_code), steps[0].sig));
  t.true(verifySignature(keyOf(steps[1].by), completeSigningString(id, steps[1].proof), steps[1].sig));
  t.true(verifySignature(keyOf(record.from), proposalSigningString({ ...record, expires: record.expires_in }), record.sig));
});
