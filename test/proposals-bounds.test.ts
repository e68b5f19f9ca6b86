import test from 'ava';
import { identity, proposals } from '../plugins/index.js';
import type { ProposalsOptions } from '../plugins/proposals/index.js';
import { ProposalStore, type StoredProposal } from '../plugins/proposals/store.js';
import { PROPOSAL_LIMITS, ProposalReason } from '../protocol/index.js';
import { connectAgent, startRelay } from './helpers/proposal-agents.js';

/** A relay whose proposals plugin runs on a clock the test moves. */
async function relayWithClock(t: Parameters<typeof startRelay>[0], options: ProposalsOptions = {}) {
  const clock = { now: Date.now() };
  const relay = await startRelay(t, {
    rateMsg: { burst: 1000, perSec: 1000 },
    plugins: [identity(), proposals({ now: () => clock.now, ...options })],
  });
  return { relay, clock };
}

test('a pending proposal past its expiry is expired on the next read, and every step on it is PROPOSAL_EXPIRED', async (t) => {
  const { relay, clock } = await relayWithClock(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const { id, created_at, expires } = await alice.proposeAndWait({ to: bob.agentId, task: 'quick job', expires: 60 });
  t.is(expires, created_at + 60_000);

  clock.now = expires!;
  t.is((await bob.list()).list[0].status, 'pending', 'still pending at the expiry instant');
  clock.now = expires! + 1;
  t.like((await bob.list()).list[0], { id, status: 'expired', updated_at: expires });
  t.is((await alice.list({ status: 'expired' })).list[0].id, id);

  bob.accept(id);
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_EXPIRED, ref: 'ACCEPT' });
  bob.reject(id);
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_EXPIRED, ref: 'REJECT' });
  alice.complete(id);
  t.like(await alice.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_EXPIRED, ref: 'COMPLETE' });
});

test('an accepted proposal does not expire: it stays open until completed or disputed', async (t) => {
  const { relay, clock } = await relayWithClock(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const { id, expires } = await alice.proposeAndWait({ to: bob.agentId, task: 'quick job', expires: 60 });
  bob.accept(id);
  await alice.step('ACCEPT', id);
  clock.now = expires! + 3_600_000;
  bob.complete(id, 'done');
  t.like(await alice.step('COMPLETE', id), { status: 'completed' });
});

test('expires is at most 30 days: one second more is INVALID_MSG', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  alice.propose({ to: bob.agentId, task: 'long job', expires: 2_592_001 });
  t.like(await alice.error(), { code: 'INVALID_MSG', message: 'expires must be at most 2592000 seconds (30 days)', ref: 'PROPOSAL' });
  const echo = await alice.proposeAndWait({ to: bob.agentId, task: 'long job', expires: 2_592_000 });
  t.is(echo.expires, echo.created_at + 2_592_000_000);
});

test('open proposals per agent are capped (LIMIT_EXCEEDED); a rejected or expired one frees its slot', async (t) => {
  const { relay, clock } = await relayWithClock(t, { maxOpenPerAgent: 2 });
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const first = await alice.proposeAndWait({ to: bob.agentId, task: 'one', expires: 10 });
  const second = await alice.proposeAndWait({ to: bob.agentId, task: 'two' });
  bob.accept(second.id);
  await alice.step('ACCEPT', second.id);

  alice.propose({ to: bob.agentId, task: 'three' });
  t.like(await alice.error(), { code: 'LIMIT_EXCEEDED', ref: 'PROPOSAL' });
  bob.propose({ to: alice.agentId, task: 'the cap is per proposer' });
  await bob.next('PROPOSAL', (f) => f.from === bob.agentId);

  clock.now = first.expires! + 1;
  const third = await alice.proposeAndWait({ to: bob.agentId, task: 'three' });
  alice.propose({ to: bob.agentId, task: 'four' });
  t.like(await alice.error(), { code: 'LIMIT_EXCEEDED' }, 'accepted ones still count');
  bob.reject(third.id);
  await alice.step('REJECT', third.id);
  t.is((await alice.proposeAndWait({ to: bob.agentId, task: 'four' })).task, 'four');
});

test('text fields are bounded: an oversized task or reason, or an empty task, is INVALID_MSG naming the field', async (t) => {
  const relay = await startRelay(t, { rateMsg: { burst: 1000, perSec: 1000 } });
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);

  alice.propose({ to: bob.agentId, task: 'x'.repeat(PROPOSAL_LIMITS.task + 1) });
  const tooLong = await alice.error();
  t.like(tooLong, { code: 'INVALID_MSG', ref: 'PROPOSAL' });
  t.regex(tooLong.message, /task/);
  alice.propose({ to: bob.agentId, task: '' });
  t.regex((await alice.error()).message, /task/);

  const { id } = await alice.proposeAndWait({ to: bob.agentId, task: 'x'.repeat(PROPOSAL_LIMITS.task) });
  bob.accept(id);
  await alice.step('ACCEPT', id);
  bob.dispute(id, 'r'.repeat(PROPOSAL_LIMITS.reason + 1));
  const reason = await bob.error();
  t.like(reason, { code: 'INVALID_MSG', ref: 'DISPUTE' });
  t.regex(reason.message, /reason/);
});

test('finished proposals are forgotten after retentionMs: lists drop them and steps get PROPOSAL_NOT_FOUND', async (t) => {
  const { relay, clock } = await relayWithClock(t, { retentionMs: 1000 });
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  const rejected = await alice.proposeAndWait({ to: bob.agentId, task: 'rejected' });
  const expiring = await alice.proposeAndWait({ to: bob.agentId, task: 'expiring', expires: 1 });
  bob.reject(rejected.id);
  const { updated_at } = await alice.step('REJECT', rejected.id);

  clock.now = updated_at + 999;
  t.deepEqual((await alice.list()).list.map((p) => p.status), ['pending', 'rejected']);
  clock.now = updated_at + 1000;
  t.deepEqual((await alice.list()).list.map((p) => p.id), [expiring.id], 'the rejected one is gone');
  clock.now = expiring.expires! + 999;
  t.like((await alice.list()).list[0], { id: expiring.id, status: 'expired' }, 'retention counts from the expiry');
  clock.now = expiring.expires! + 1000;
  t.deepEqual((await alice.list()).list, []);
  bob.accept(expiring.id);
  t.like(await bob.error(), { code: 'INVALID_PROPOSAL', reason: ProposalReason.PROPOSAL_NOT_FOUND });
});

test('LIST_PROPOSALS sends the newest maxListed proposals and marks the answer truncated', async (t) => {
  const { relay } = await relayWithClock(t, { maxListed: 2 });
  const alice = await connectAgent(t, relay);
  const bob = await connectAgent(t, relay);
  for (const task of ['one', 'two', 'three']) await alice.proposeAndWait({ to: bob.agentId, task });
  const answer = await bob.list();
  t.deepEqual(answer.list.map((p) => p.task), ['three', 'two']);
  t.true(answer.truncated);
  t.false('truncated' in (await bob.list({ status: 'accepted' })), 'absent when everything fits');
});

// ---- the store alone: reclaiming memory without any reader ----

const record = (id: string, from: string, at: number, expires: number | null = null): StoredProposal => ({
  id, from, to: '@bbbbbbbb', task: 't', amount: null, currency: null, payment_code: null, terms: null,
  expires, expires_in: expires === null ? null : 1, status: 'pending', created_at: at, updated_at: at, sig: 's', steps: [],
  parties: { from: 'key-a', to: 'key-b' },
});

test('the sweep reclaims finished and expired proposals after retention, and keeps open ones', (t) => {
  const store = new ProposalStore({ maxOpenPerAgent: 10, maxProposals: 100, retentionMs: 1000 });
  store.add(record('done', '@aaaaaaaa', 0));
  store.add(record('expiring', '@aaaaaaaa', 0, 500));
  store.add(record('open', '@aaaaaaaa', 0));
  store.transition(store.get('done', 0)!, 'completed', 100);

  store.sweep(1099);
  t.is(store.size, 3);
  store.sweep(1100);
  t.is(store.size, 2, 'completed at 100, gone at 100 + retention');
  store.sweep(1500);
  t.is(store.size, 1, 'expired at 500, gone at 500 + retention');
  t.is(store.get('open', 1_000_000)?.status, 'pending');
});

test('at the relay cap the oldest finished proposal is evicted; with only open ones there is no room', (t) => {
  const store = new ProposalStore({ maxOpenPerAgent: 10, maxProposals: 2, retentionMs: 60_000 });
  store.add(record('a', '@aaaaaaaa', 0));
  store.add(record('b', '@aaaaaaaa', 0));
  t.is(store.roomFor('@aaaaaaaa', 0), 'relay_limit');
  store.transition(store.get('b', 0)!, 'rejected', 1);
  store.transition(store.get('a', 0)!, 'rejected', 2);
  t.is(store.roomFor('@aaaaaaaa', 3), null);
  t.is(store.get('b', 3), undefined, 'b finished first, so it went first');
  t.truthy(store.get('a', 3));
});
