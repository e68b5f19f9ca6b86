import test from 'ava';
import { once } from 'node:events';
import { AgentChatError, generateIdentity } from '../client/index.js';
import { ProposalReason, type ProposalFrame, type ProposalStepFrame } from '../protocol/index.js';
import { connectClient, startRelay } from './helpers/cli.js';

test('propose resolves with the echo carrying the id; accept and complete resolve with their frames; both sides get events', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url, { identity: generateIdentity('alice') });
  const bob = await connectClient(t, relay.url, { identity: generateIdentity('bob') });

  const offered = once(bob, 'proposal') as Promise<[ProposalFrame]>;
  const echo = await alice.propose(bob.agentId!.slice(1), { task: 'write tests', amount: 5, currency: 'USD', terms: 'ava', expires: 600 });
  t.like(echo, { type: 'PROPOSAL', from: alice.agentId, to: bob.agentId, task: 'write tests', status: 'pending' });
  t.regex(echo.id, /^prop_/);
  t.is((await offered)[0].id, echo.id);

  const accepted = once(alice, 'accept') as Promise<[ProposalStepFrame]>;
  t.like(await bob.accept(echo.id, 'pay-bob'), { type: 'ACCEPT', proposal_id: echo.id, status: 'accepted', by: bob.agentId });
  t.like((await accepted)[0], { proposal_id: echo.id, payment_code: 'pay-bob' });

  t.like(await alice.complete(echo.id, 'merged'), { type: 'COMPLETE', status: 'completed', proof: 'merged' });
  const { list } = await bob.listProposals({ role: 'recipient' });
  t.like(list[0], { id: echo.id, status: 'completed' });
});

test('reject and dispute resolve; a refused step rejects with the relay code and reason', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectClient(t, relay.url, { identity: generateIdentity('alice') });
  const bob = await connectClient(t, relay.url, { identity: generateIdentity('bob') });

  const declined = await alice.propose(bob.agentId!, { task: 'one' });
  t.like(await bob.reject(declined.id, 'no time'), { status: 'rejected', reason: 'no time' });
  const refused = await t.throwsAsync(bob.accept(declined.id), { instanceOf: AgentChatError });
  t.is(refused?.code, 'INVALID_PROPOSAL');
  t.is(refused?.reason, ProposalReason.PROPOSAL_NOT_PENDING);

  const disputed = await alice.propose(bob.agentId!, { task: 'two' });
  await bob.accept(disputed.id);
  t.like(await alice.dispute(disputed.id, 'never delivered'), { status: 'disputed', by: alice.agentId, reason: 'never delivered' });
});

test('without an identity, proposal methods refuse locally with SIGNATURE_REQUIRED', async (t) => {
  const relay = await startRelay(t);
  const guest = await connectClient(t, relay.url);
  const err = await t.throwsAsync(guest.propose('@abcdef12', { task: 'x' }), { instanceOf: AgentChatError });
  t.is(err?.code, 'SIGNATURE_REQUIRED');
  t.is(err?.frame, undefined, 'no relay ERROR behind it: nothing was sent');
  t.is((await t.throwsAsync(guest.accept('prop_x_00000000')))?.message.includes('identity'), true);
});
