/** The MCP inbox and send policy on their own: bounds, once-only reads, msg_id dedupe and `since`, the byte budget. */
import test from 'ava';
import { Inbox, InboxIdError } from '../mcp/inbox.js';
import { PolicyError, SendPolicy } from '../mcp/policy.js';

const msg = (content: string, extra: Record<string, unknown> = {}) => ({ type: 'MSG', from: '@aaaaaaaa', to: '#general', content, ts: 1, signed: false, ...extra });
const contents = (inbox: Inbox, options: Partial<Parameters<Inbox['take']>[0]> = {}) =>
  inbox.take({ maxBytes: 1 << 20, ...options }).entries.map((e) => e.frame.content);

test('a read hands each message out once, oldest first', (t) => {
  const inbox = new Inbox();
  inbox.add('#general', msg('one', { ts: 1 }));
  inbox.add('#general', msg('two', { ts: 2 }));
  t.deepEqual(contents(inbox), ['one', 'two']);
  t.deepEqual(contents(inbox), []);
  inbox.add('#general', msg('three', { ts: 3 }));
  t.deepEqual(contents(inbox), ['three']);
});

test('the inbox keeps the newest messages within its count bound and counts the ones dropped', (t) => {
  const inbox = new Inbox({ maxMessages: 3, maxBytes: 1 << 20, maxSeen: 100 });
  for (let i = 1; i <= 5; i++) inbox.add('#general', msg(`m${i}`, { ts: i }));
  t.is(inbox.takeDropped(), 2);
  t.is(inbox.takeDropped(), 0, 'the counter is per read');
  t.deepEqual(contents(inbox), ['m3', 'm4', 'm5']);
  t.is(inbox.droppedTotal, 2);
});

test('the inbox keeps the newest messages within its byte bound', (t) => {
  const inbox = new Inbox({ maxMessages: 1000, maxBytes: 2500, maxSeen: 100 });
  for (let i = 1; i <= 5; i++) inbox.add('#general', msg(`${i}`.repeat(1000), { ts: i }));
  t.deepEqual(contents(inbox).map((c) => String(c)[0]), ['4', '5']);
  t.is(inbox.takeDropped(), 3);
});

test('a frame relayed again (history replayed after a re-join) is not stored twice', (t) => {
  const inbox = new Inbox();
  t.true(inbox.add('#general', msg('once', { ts: 7 })));
  t.false(inbox.add('#general', msg('once', { ts: 7, replay: true })));
  t.true(inbox.add('#general', msg('once', { ts: 8 })), 'the same text sent again later is a new message');
  t.deepEqual(contents(inbox), ['once', 'once']);
  t.false(inbox.add('#general', msg('once', { ts: 7, replay: true })), 'nor after it was read');
});

test('with relay msg_ids: one id per channel is one message, and the message id carries it', (t) => {
  const inbox = new Inbox();
  t.true(inbox.add('#general', msg('a', { msg_id: 41 })));
  t.false(inbox.add('#general', msg('a', { msg_id: 41, replay: true, ts: 99 })), 'same channel and msg_id: a duplicate, whatever its ts');
  t.true(inbox.add('#agents', msg('b', { to: '#agents', msg_id: 41 })), 'msg_ids count per channel');
  t.deepEqual(inbox.take({ maxBytes: 1 << 20 }).entries.map((e) => e.id), ['#general/41', '#agents/41']);
});

test('since a relay msg_id: only later messages of that channel, the earlier ones skipped for good', (t) => {
  const inbox = new Inbox();
  for (const id of [8, 9, 10, 11]) inbox.add('#general', msg(`g${id}`, { msg_id: id }));
  inbox.add('#agents', msg('other channel', { to: '#agents', msg_id: 3 }));
  t.deepEqual(contents(inbox, { since: '#general/9' }), ['g10', 'g11'], '10 and 11 after 9 (numeric order, not text order)');
  t.deepEqual(contents(inbox), ['other channel'], 'g8 and g9 are gone; other channels were left for the next read');
});

test('since an arrival id (frames without msg_id) works the same way', (t) => {
  const inbox = new Inbox();
  for (let i = 1; i <= 3; i++) inbox.add('#general', msg(`m${i}`, { ts: i }));
  t.deepEqual(contents(inbox, { since: '#general/~2' }), ['m3']);
  t.deepEqual(contents(inbox), []);
});

test('since refuses something that is not a message id', (t) => {
  const inbox = new Inbox();
  t.throws(() => inbox.take({ maxBytes: 1000, since: 'yesterday' }), { instanceOf: InboxIdError, message: /message id that read returned/ });
});

test('a read stays within its byte budget: what does not fit waits, a lone oversized message is cut and marked', (t) => {
  const inbox = new Inbox();
  for (let i = 1; i <= 3; i++) inbox.add('#general', msg('x'.repeat(600), { ts: i }));
  const first = inbox.take({ maxBytes: 1500 });
  t.is(first.entries.length, 2);
  t.true(first.more);
  t.true(Buffer.byteLength(JSON.stringify(first.entries.map((e) => ({ id: e.id, conversation: e.conversation, ...e.frame })))) <= 1500);

  inbox.add('#general', msg('é'.repeat(3000), { ts: 9 }));
  const cut = inbox.take({ maxBytes: 1024 });
  t.is(cut.entries.length, 1, 'the 600-byte one');
  const big = inbox.take({ maxBytes: 1024 }).entries[0];
  t.true(big.frame.truncated);
  t.true(Buffer.byteLength(JSON.stringify({ id: big.id, conversation: big.conversation, ...big.frame })) <= 1024);
  t.true(String(big.frame.content).length > 100, 'cut to fit, not emptied');
});

test('a read filtered to one conversation leaves the others unread', (t) => {
  const inbox = new Inbox();
  inbox.add('#general', msg('in general'));
  inbox.add('@bbbbbbbb', msg('a dm', { from: '@bbbbbbbb', to: '@cccccccc' }));
  t.deepEqual(contents(inbox, { conversation: '@bbbbbbbb' }), ['a dm']);
  t.deepEqual(contents(inbox), ['in general']);
});

test('waitFor resolves when a message for the conversation arrives, and false when none does', async (t) => {
  const inbox = new Inbox();
  const waiting = inbox.waitFor({ conversation: '#general' }, 60_000);
  inbox.add('#agents', msg('elsewhere', { to: '#agents' }));
  inbox.add('#general', msg('here'));
  t.true(await waiting);
  t.false(await new Inbox().waitFor({}, 10), 'nothing arrives: false once the time is up');
  const controller = new AbortController();
  const aborted = new Inbox().waitFor({}, 60_000, controller.signal);
  controller.abort();
  t.false(await aborted, 'a cancelled tool call stops waiting');
});

test('a wait with since ends only for a message after that id', async (t) => {
  const inbox = new Inbox();
  inbox.add('#general', msg('m1', { ts: 1 }));
  const waiting = inbox.waitFor({ since: '#general/~2' }, 60_000);
  let woke = false;
  void waiting.then(() => (woke = true));
  inbox.add('#general', msg('m2', { ts: 2 }));
  await Promise.resolve();
  t.false(woke, 'm2 is not after ~2');
  inbox.add('#general', msg('m3', { ts: 3 }));
  t.true(await waiting);
  t.deepEqual(contents(inbox, { since: '#general/~2' }), ['m3']);
});

test('the send policy: allow-lists first, then the budget, counted per allowed send', (t) => {
  const policy = new SendPolicy({ allowChannels: new Set(['#general']), allowDm: new Set(), maxSends: 2 });
  t.throws(() => policy.spend('#agents'), { instanceOf: PolicyError, message: /may not send to #agents: --allow-channels allows #general/ });
  t.throws(() => policy.spend('@bbbbbbbb'), { message: /--allow-dm allows none/ });
  t.is(policy.sendsLeft, 2, 'refused sends cost nothing');
  policy.spend('#general');
  policy.spend('#general');
  t.is(policy.sendsLeft, 0);
  const spent = t.throws(() => policy.spend('#general'), { instanceOf: PolicyError });
  t.is(spent?.code, 'SEND_BUDGET_EXHAUSTED');
  t.is(new SendPolicy({ allowChannels: null, allowDm: null, maxSends: null }).sendsLeft, null);
});
