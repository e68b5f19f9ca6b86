import test from 'ava';
import { acceptSigningString, generateKeyPair, proposalSigningString, ProposalReason, signString } from '../protocol/index.js';
import { connectAgent, startRelay, type Agent } from './helpers/proposal-agents.js';

/** Steps in one test exceed the default burst of 10 proposal frames. */
const roomy = { rateMsg: { burst: 1000, perSec: 1000 } };

/** The proposal's status as its proposer lists it. */
async function statusOf(agent: Agent, id: string): Promise<string | undefined> {
  return (await agent.list()).list.find((p) => p.id === id)?.status;
}

test('ACCEPT of an unknown proposal id is PROPOSAL_NOT_FOUND', async (t) => {
  const relay = await startRelay(t);
  const bob = await connectAgent(t, relay);
  bob.accept('prop_nothere_00000000');
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_FOUND, ref: 'ACCEPT' });
});

test('only the recipient accepts or rejects: the proposer and a third party get NOT_PROPOSAL_RECIPIENT', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const carol = await connectAgent(t, relay);
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'review' });

  alice.accept(id);
  t.like(await alice.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.NOT_PROPOSAL_RECIPIENT, ref: 'ACCEPT' });
  carol.reject(id, 'not yours');
  t.like(await carol.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.NOT_PROPOSAL_RECIPIENT, ref: 'REJECT' });
  t.is(await statusOf(alice, id), 'pending');
});

test('a third party cannot complete or dispute: NOT_PROPOSAL_PARTY, and nothing changes', async (t) => {
  const relay = await startRelay(t, roomy);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const carol = await connectAgent(t, relay);
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'review' });
  bob.accept(id);
  await alice.step('ACCEPT', id);

  carol.complete(id, 'done by me');
  t.like(await carol.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.NOT_PROPOSAL_PARTY, ref: 'COMPLETE' });
  carol.dispute(id, 'I object');
  t.like(await carol.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.NOT_PROPOSAL_PARTY, ref: 'DISPUTE' });
  t.is(await statusOf(alice, id), 'accepted');
  t.deepEqual(alice.pending('COMPLETE'), []);
});

test('COMPLETE or DISPUTE of a pending proposal is PROPOSAL_NOT_ACCEPTED; a second ACCEPT is PROPOSAL_NOT_PENDING', async (t) => {
  const relay = await startRelay(t, roomy);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'review' });

  alice.complete(id);
  t.like(await alice.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_ACCEPTED, ref: 'COMPLETE' });
  bob.dispute(id, 'early');
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_ACCEPTED, ref: 'DISPUTE' });

  bob.accept(id);
  await bob.step('ACCEPT', id);
  bob.accept(id);
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_PENDING, ref: 'ACCEPT' });
});

test('a PROPOSAL whose signature does not verify is INVALID_SIGNATURE and reaches nobody', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const fields = { to: bob.agentId, task: 'pay me', amount: 10, currency: 'USD' };

  // Signed by another key, and signed over different fields than the ones sent.
  alice.propose(fields, signString(generateKeyPair().privateKey, proposalSigningString(fields)));
  t.like(await alice.error(), { code: 'INVALID_SIGNATURE', ref: 'PROPOSAL' });
  alice.propose({ ...fields, amount: 1000 }, alice.sign(proposalSigningString(fields)));
  t.like(await alice.error(), { code: 'INVALID_SIGNATURE', ref: 'PROPOSAL' });
  alice.propose(fields, 'not-a-signature');
  t.like(await alice.error(), { code: 'INVALID_SIGNATURE', ref: 'PROPOSAL' });

  await bob.sync();
  t.deepEqual(bob.pending('PROPOSAL'), []);
  t.deepEqual((await alice.list()).list, []);
});

test('a forged ACCEPT, REJECT, COMPLETE or DISPUTE is INVALID_SIGNATURE and changes nothing', async (t) => {
  const relay = await startRelay(t, roomy);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const forger = generateKeyPair();
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'review' });

  bob.accept(id, undefined, signString(forger.privateKey, acceptSigningString(id)));
  t.like(await bob.error(), { code: 'INVALID_SIGNATURE', ref: 'ACCEPT' });
  bob.accept(id, 'pay-bob', bob.sign(acceptSigningString(id, 'pay-other')));
  t.like(await bob.error(), { code: 'INVALID_SIGNATURE', ref: 'ACCEPT' }, 'the payment code is part of what is signed');
  bob.reject(id, 'no', bob.sign(`REJECT|${id}|yes`));
  t.like(await bob.error(), { code: 'INVALID_SIGNATURE', ref: 'REJECT' });
  t.is(await statusOf(alice, id), 'pending');

  bob.accept(id);
  await alice.step('ACCEPT', id);
  alice.complete(id, 'proof', alice.sign(`COMPLETE|${id}|other proof`));
  t.like(await alice.error(), { code: 'INVALID_SIGNATURE', ref: 'COMPLETE' });
  bob.dispute(id, 'late', signString(forger.privateKey, `DISPUTE|${id}|late`));
  t.like(await bob.error(), { code: 'INVALID_SIGNATURE', ref: 'DISPUTE' });
  t.is(await statusOf(alice, id), 'accepted');
  t.deepEqual([...alice.pending('COMPLETE'), ...alice.pending('DISPUTE')], []);
});

test('an ACCEPT signature for one proposal replayed on another is INVALID_SIGNATURE', async (t) => {
  const relay = await startRelay(t, roomy);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const first = await alice.proposeAndWait({ to: bob.agentId, task: 'first' });
  const second = await alice.proposeAndWait({ to: bob.agentId, task: 'second' });

  const sig = bob.sign(acceptSigningString(first.id));
  bob.accept(first.id, undefined, sig);
  await bob.step('ACCEPT', first.id);
  bob.accept(second.id, undefined, sig);
  t.like(await bob.error(), { code: 'INVALID_SIGNATURE', ref: 'ACCEPT' });
  t.is(await statusOf(alice, second.id), 'pending');
});

test('an ephemeral agent gets SIGNATURE_REQUIRED: it can neither propose, nor answer, nor be proposed to', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const guest = await connectAgent(t, relay, { keys: null });

  guest.send({ type: 'PROPOSAL', to: bob.agentId, task: 'work', sig: 'x'.repeat(88) });
  t.like(await guest.error(), { code: 'SIGNATURE_REQUIRED', ref: 'PROPOSAL' });
  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'work' });
  guest.send({ type: 'COMPLETE', proposal_id: id, sig: 'x'.repeat(88) });
  t.like(await guest.error(), { code: 'SIGNATURE_REQUIRED', ref: 'COMPLETE' });

  alice.propose({ to: guest.agentId, task: 'work' });
  t.like(await alice.error(), { code: 'SIGNATURE_REQUIRED', ref: 'PROPOSAL' });
  await guest.sync();
  t.deepEqual(guest.pending('PROPOSAL'), []);
});

test('a proposal to an agent that is not connected is AGENT_NOT_FOUND; one to yourself is INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const bobId = bob.agentId;
  await bob.close();

  alice.propose({ to: bobId, task: 'work' });
  t.like(await alice.error(), { code: 'AGENT_NOT_FOUND', ref: 'PROPOSAL' });
  alice.propose({ to: alice.agentId, task: 'work' });
  t.like(await alice.error(), { code: 'INVALID_MSG', ref: 'PROPOSAL' });
  t.deepEqual((await alice.list()).list, []);
});

test('with allowUnverifiedKeys, unproven keys may take part, and their signatures are still verified', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const fields = { to: bob.agentId, task: 'work' };

  alice.propose(fields, signString(generateKeyPair().privateKey, proposalSigningString(fields)));
  t.like(await alice.error(), { code: 'INVALID_SIGNATURE' });
  const { id } = await alice.proposeAndWait(fields);
  bob.accept(id);
  t.like(await alice.step('ACCEPT', id), { status: 'accepted', by: bob.agentId });
});
