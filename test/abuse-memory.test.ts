/**
 * Memory a hostile client can make the relay hold is bounded in bytes: MSG content by
 * its serialized size, channel history per channel and relay-wide, the history of
 * channels made by ephemeral agents dropped when they empty, and proposals by count
 * per proposer and per recipient and by bytes relay-wide. Scaled-down attacks; a
 * legitimate client is served throughout.
 */
import test from 'ava';
import { KeptHistory } from '../plugins/history/kept.js';
import { ProposalStore, type StoredProposal } from '../plugins/proposals/store.js';
import { connectAgent, startRelay as startProposalRelay } from './helpers/proposal-agents.js';
import { connectAs, expectRefused, newKeyPair, NO_ADDRESS_LIMITS, startRelay } from './helpers/relay-client.js';

const FAST = { rateMsg: { burst: 1000, perSec: 1000 } };

test('4,096 control characters are INVALID_MSG naming the byte limit, and nothing is relayed', async (t) => {
  const relay = await startRelay(t);
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: '\u0001'.repeat(4096) });
  const error = await expectRefused(t, alice, 'INVALID_MSG', 'MSG');
  t.regex(String(error.message), /"content" is 24576 bytes once JSON-escaped .*the limit is 16384 bytes/);
  alice.send({ type: 'MSG', to: '#general', content: 'x'.repeat(4096) });
  t.is((await bob.next('MSG')).content, 'x'.repeat(4096), 'a plain 4,096-character message still goes through');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0);
});

test('history keeps the newest entries within its per-channel and relay-wide byte budgets', (t) => {
  const store = new KeptHistory({ size: 100, maxChannelBytes: 1000, maxBytes: 2500 });
  const frame = (n: number) => `{"n":${String(n).padStart(3, '0')},"pad":"${'x'.repeat(82)}"}`; // 100 bytes
  for (let i = 0; i < 30; i++) store.add('#a', i + 1, frame(i));
  t.is(store.channelBytes('#a'), 1000);
  t.deepEqual(store.entries('#a').map((e) => e.text.slice(5, 8)), Array.from({ length: 10 }, (_, i) => String(20 + i).padStart(3, '0')));
  for (let i = 0; i < 10; i++) store.add('#b', i + 1, frame(100 + i));
  for (let i = 0; i < 10; i++) store.add('#c', i + 1, frame(200 + i));
  t.true(store.bytes <= 2500);
  t.is(store.channelBytes('#a'), 500, 'the oldest of all channels went first: #a');
  t.is(store.channelBytes('#c'), 1000);
  store.drop('#c');
  t.is(store.bytes, 1500);
});

test('a scaled-down channel+MSG flood holds history under its relay-wide budget while a legitimate client is served', async (t) => {
  const BUDGET = 200 * 1024;
  const relay = await startRelay(t, { ...FAST, pluginOptions: { limits: NO_ADDRESS_LIMITS, history: { maxBytes: BUDGET } } });
  const content = '\u00e9'.repeat(4096); // 8 KiB escaped, the most a 4,096-character content may weigh here
  const attackers = await Promise.all(Array.from({ length: 20 }, (_, i) => connectAs(t, relay, `flood${i}`, newKeyPair())));
  await Promise.all(attackers.map(async (a, i) => {
    a.send({ type: 'CREATE_CHANNEL', channel: `#flood${i}` });
    await a.next('JOINED');
    for (let k = 0; k < 10; k++) a.send({ type: 'MSG', to: `#flood${i}`, content });
    for (let k = 0; k < 10; k++) await a.next('MSG');
  }));
  const legit = await connectAs(t, relay, 'legit');
  let replayed = 0;
  for (let i = 0; i < 20; i++) {
    await legit.join(`#flood${i}`);
    await legit.ping();
    for (const frame of legit.pending('MSG')) replayed += Buffer.byteLength(JSON.stringify({ ...frame, replay: undefined }));
    legit.drain();
  }
  t.true(replayed > 0 && replayed <= BUDGET, `${replayed} bytes of history replayed across the flooded channels; budget ${BUDGET}`);
  legit.send({ type: 'MSG', to: '#flood0', content: 'still here' });
  t.is((await legit.next('MSG', (f) => f.content === 'still here')).from, legit.agentId);
});

test('a channel created by an ephemeral agent loses its history when it empties; a keyed creator\'s keeps it', async (t) => {
  const relay = await startRelay(t);
  for (const [name, keys] of [['anon', undefined], ['keyed', newKeyPair()]] as const) {
    const creator = await connectAs(t, relay, name, keys);
    creator.send({ type: 'CREATE_CHANNEL', channel: `#${name}-room` });
    await creator.next('JOINED');
    creator.send({ type: 'MSG', to: `#${name}-room`, content: 'remember me' });
    await creator.next('MSG');
    await creator.close();
  }
  while (relay.api.sessions.size > 0) await new Promise((resolve) => setImmediate(resolve));
  const later = await connectAs(t, relay, 'later');
  await later.join('#anon-room');
  await later.join('#keyed-room');
  await later.ping();
  t.deepEqual(later.pending('MSG').map((m) => m.to), ['#keyed-room']);
});

const record = (id: string, from: string, to: string, task = 't'): StoredProposal => ({
  id, from, to, task, amount: null, currency: null, payment_code: null, terms: null,
  expires: null, expires_in: null, status: 'pending', created_at: 0, updated_at: 0, sig: 's', steps: [], parties: { from: 'key-from', to: 'key-to' },
});

test('the proposal store refuses past its byte budget unless finished records can be evicted', (t) => {
  const store = new ProposalStore({ maxOpenPerAgent: 100, maxProposals: 100, retentionMs: 60_000, maxBytes: 3000 });
  const big = 'x'.repeat(1000);
  store.add(record('a', '@aaaaaaaa', '@bbbbbbbb', big));
  store.add(record('b', '@aaaaaaaa', '@bbbbbbbb', big));
  t.true(store.bytes > 2000 && store.bytes <= 3000);
  t.is(store.roomFor('@aaaaaaaa', 0, '@bbbbbbbb', 1200), 'relay_limit');
  store.transition(store.get('a', 0)!, 'rejected', 1);
  t.is(store.roomFor('@aaaaaaaa', 2, '@bbbbbbbb', 1200), null);
  t.is(store.get('a', 2), undefined, 'the finished one was evicted to make room');
});

test('proposals to one recipient stop at its open cap, other recipients are unaffected', async (t) => {
  const relay = await startProposalRelay(t, { ...FAST, pluginOptions: { limits: NO_ADDRESS_LIMITS, proposals: { maxOpenPerRecipient: 3 } } });
  const victim = await connectAgent(t, relay);
  const other = await connectAgent(t, relay);
  const attackers = await Promise.all(Array.from({ length: 4 }, () => connectAgent(t, relay)));
  for (const a of attackers.slice(0, 3)) await a.proposeAndWait({ to: victim.agentId, task: 'spam' });
  attackers[3].propose({ to: victim.agentId, task: 'spam' });
  t.like(await attackers[3].error(), { code: 'LIMIT_EXCEEDED', reason: 'recipient_open_limit', ref: 'PROPOSAL' });
  await attackers[3].proposeAndWait({ to: other.agentId, task: 'fine' });
  t.is((await victim.list()).list.length, 3);
});
