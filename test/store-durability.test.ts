/**
 * Durable state: a relay on the embedded SQLite store restarts with its channels,
 * invitations, key registry, proposals and history; a `kill -9` loses no acknowledged
 * proposal step or invitation; message ids go on across restarts and a listener
 * resumes from its cursor without losing or repeating a message; bad data dirs are one
 * clear line.
 */
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { AgentChatClient, generateIdentity } from '../client/index.js';
import type { MsgFrame } from '../protocol/index.js';
import { acceptSigningString, completeSigningString, proposalCanonicalString, PROPOSAL_SIG_FORMAT_JSON, signString } from '../protocol/index.js';
import { createRelay, type RelayOptions } from '../relay.js';
import { DATA_FILE, sqliteStore, StoreError } from '../store/index.js';
import { runCli, startServe, tempDir } from './helpers/cli.js';
import { tcpFront } from './helpers/tcp-front.js';
import { connect, connectAs, expectRefused, newKeyPair, type RelayClient } from './helpers/relay-client.js';

/** A relay on `dir`'s SQLite file; `restart()` closes it and opens a new one on the same file. */
async function durableRelay(t: ExecutionContext, dir: string, options: RelayOptions = {}) {
  const open = async () => {
    const relay = createRelay({ port: 0, host: '127.0.0.1', log: false, ...options, store: sqliteStore({ dataDir: dir }) });
    await relay.listen();
    t.teardown(() => relay.close());
    return relay;
  };
  return open;
}

test('a restart keeps private channels, invitations, the key registry, proposals with their steps, and history with its msg_ids', async (t) => {
  const dir = await tempDir(t);
  const open = await durableRelay(t, dir);
  let relay = await open();
  const [ownerKeys, bobKeys] = [newKeyPair(), newKeyPair()];
  const owner = await connectAs(t, relay, 'owner', ownerKeys);
  const bob = await connectAs(t, relay, 'bob', bobKeys);
  owner.send({ type: 'CREATE_CHANNEL', channel: '#design', invite_only: true });
  await owner.next('JOINED');
  owner.send({ type: 'INVITE', channel: '#design', agent: bob.agentId });
  await owner.next('INVITED');
  for (const content of ['one', 'two', 'three']) {
    owner.send({ type: 'MSG', to: '#design', content });
    await owner.next('MSG');
  }
  const fields = { to: bob.agentId!, task: 'review the design' };
  owner.send({ type: 'PROPOSAL', ...fields, sig: signString(ownerKeys.privateKey, proposalCanonicalString(fields)), sig_format: PROPOSAL_SIG_FORMAT_JSON });
  const proposal = await bob.next('PROPOSAL');
  const id = String(proposal.id);
  bob.send({ type: 'ACCEPT', proposal_id: id, sig: signString(bobKeys.privateKey, acceptSigningString(id)) });
  await bob.next('ACCEPT');
  await relay.close();

  relay = await open();
  t.like(relay.api.channels.get('#design'), { inviteOnly: true, createdBy: owner.agentId, lastMsgId: 3 });
  const bobAgain = await connectAs(t, relay, 'bob', bobKeys);
  const joined = await bobAgain.join('#design');
  t.deepEqual(joined.agents, [bobAgain.agentId], 'the invitation survived');
  const replayed = [await bobAgain.next('MSG'), await bobAgain.next('MSG'), await bobAgain.next('MSG')];
  t.deepEqual(replayed.map((m) => [m.content, m.msg_id, m.replay]), [['one', 1, true], ['two', 2, true], ['three', 3, true]]);
  bobAgain.send({ type: 'MSG', to: '#design', content: 'four' });
  t.is((await bobAgain.next('MSG', (m) => m.content === 'four')).msg_id, 4, 'msg_ids go on after a restart');

  bobAgain.send({ type: 'LIST_PROPOSALS' });
  const [listed] = (await bobAgain.next('PROPOSALS')).list as Array<Record<string, unknown>>;
  t.like(listed, { id, status: 'accepted', task: 'review the design', sig_format: 'json' });
  t.is((listed.steps as unknown[]).length, 1);
  const ownerAgain = await connectAs(t, relay, 'owner', ownerKeys);
  ownerAgain.send({ type: 'COMPLETE', proposal_id: id, sig: signString(ownerKeys.privateKey, completeSigningString(id)) });
  t.is((await ownerAgain.next('COMPLETE')).status, 'completed', 'accept <id> after a restart finds it');
});

test('the key registry survives a restart: a colliding key is still refused', async (t) => {
  const dir = await tempDir(t);
  const ids = new Map<string, string>();
  const agentIdOf = (pem: string) => ids.get(pem.trim()) ?? '@00000000';
  const open = await durableRelay(t, dir, { pluginOptions: { identity: { agentIdOf } } });
  const [owner, grinder] = [newKeyPair(), newKeyPair()];
  ids.set(owner.publicKey.trim(), '@c0ffee00');
  ids.set(grinder.publicKey.trim(), '@c0ffee00');
  let relay = await open();
  await connectAs(t, relay, 'owner', owner);
  await relay.close();
  relay = await open();
  const mallory = await connect(t, relay);
  mallory.send({ type: 'IDENTIFY', name: 'mallory', pubkey: grinder.publicKey });
  await expectRefused(t, mallory, 'KEY_CONFLICT', 'IDENTIFY');
});

test('JOIN {since} replays exactly the messages after it; {history: 0} replays none; since older than retention says incomplete', async (t) => {
  const dir = await tempDir(t);
  const open = await durableRelay(t, dir, { pluginOptions: { history: { keep: 5, size: 2 } } });
  const relay = await open();
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (let i = 1; i <= 8; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
    await alice.next('MSG');
  }
  const replayOf = async (c: RelayClient, join: Record<string, unknown>) => {
    c.send({ type: 'JOIN', channel: '#general', ...join });
    await c.next('JOINED');
    await c.ping();
    return c.pending('MSG').map((f) => f.msg_id);
  };
  t.deepEqual(await replayOf(await connectAs(t, relay, 'plain'), {}), [7, 8], 'a plain JOIN replays the last `size`');
  t.deepEqual(await replayOf(await connectAs(t, relay, 'quiet'), { history: 0 }), [], 'history: 0 replays nothing');
  const resumer = await connectAs(t, relay, 'resumer');
  t.deepEqual(await replayOf(resumer, { since: 5 }), [6, 7, 8]);
  t.like(resumer.pending('HISTORY')[0], { channel: '#general', since: 5, count: 3, incomplete: false, last_msg_id: 8 });
  const late = await connectAs(t, relay, 'late');
  t.deepEqual(await replayOf(late, { since: 1 }), [4, 5, 6, 7, 8], 'what retention still holds');
  t.like(late.pending('HISTORY')[0], { count: 5, incomplete: true }, 'm2 and m3 are gone: the client knows it missed some');
  const current = await connectAs(t, relay, 'current');
  t.deepEqual(await replayOf(current, { since: 8 }), []);
  t.like(current.pending('HISTORY')[0], { count: 0, incomplete: false });
});

test('a listener resumes across a relay restart and sees every message exactly once', async (t) => {
  const dir = await tempDir(t);
  const entry = await tcpFront(t);
  const url = `ws://127.0.0.1:${entry.port}`;
  const serveArgs = ['--data-dir', dir, '--public-url', url];
  const first = await startServe(t, serveArgs);
  entry.retarget(first.port);
  const listener = new AgentChatClient({ server: url, reconnect: { initialMs: 20, maxMs: 200 }, requestTimeoutMs: 3000 });
  t.teardown(() => listener.disconnect());
  const seen: string[] = [];
  listener.on('message', (m: MsgFrame) => void seen.push(m.content));
  await listener.connect();
  await listener.join('#general');
  const talker = async (n: number) => {
    const c = new AgentChatClient({ server: url, identity: generateIdentity(`talker${n}`) });
    await c.connect();
    await c.join('#general');
    return c;
  };
  let alice = await talker(1);
  for (const content of ['a1', 'a2']) await alice.send('#general', content);
  await alice.disconnect();
  const dropped = once(listener, 'disconnect');
  first.child.kill('SIGTERM');
  await first.exited;
  await dropped;
  // The relay comes back on the same data; traffic arrives before and after the listener is back.
  const second = await startServe(t, serveArgs);
  entry.retarget(second.port);
  const rejoined = once(listener, 'rejoined');
  alice = await talker(2);
  await alice.send('#general', 'a3');
  await rejoined;
  await alice.send('#general', 'a4');
  await listener.ping();
  await alice.disconnect();
  t.deepEqual(seen, ['a1', 'a2', 'a3', 'a4']);
});

test('kill -9 in the middle of traffic loses no acknowledged invitation or proposal step, and history only at its end', async (t) => {
  const dir = await tempDir(t);
  const args = ['--data-dir', dir, '--rate-burst', '100', '--rate-per-sec', '100'];
  let serve = await startServe(t, args);
  const [ownerKeys, bobKeys] = [newKeyPair(), newKeyPair()];
  const owner = await connectAs(t, serve.port, 'owner', ownerKeys);
  const bob = await connectAs(t, serve.port, 'bob', bobKeys);
  owner.send({ type: 'CREATE_CHANNEL', channel: '#deal', invite_only: true });
  await owner.next('JOINED');
  owner.send({ type: 'INVITE', channel: '#deal', agent: bob.agentId });
  await owner.next('INVITED');
  const fields = { to: bob.agentId!, task: 'ship it' };
  owner.send({ type: 'PROPOSAL', ...fields, sig: signString(ownerKeys.privateKey, proposalCanonicalString(fields)), sig_format: PROPOSAL_SIG_FORMAT_JSON });
  const id = String((await bob.next('PROPOSAL')).id);
  // Traffic in flight when the relay dies: the ACCEPT is acknowledged, then messages pour in.
  bob.send({ type: 'ACCEPT', proposal_id: id, sig: signString(bobKeys.privateKey, acceptSigningString(id)) });
  await bob.next('ACCEPT');
  for (let i = 1; i <= 50; i++) owner.send({ type: 'MSG', to: '#deal', content: `m${i}` });
  await owner.next('MSG', (m) => m.content === 'm10');
  serve.child.kill('SIGKILL');
  await serve.exited;

  serve = await startServe(t, args);
  const bobAgain = await connectAs(t, serve.port, 'bob', bobKeys);
  bobAgain.send({ type: 'JOIN', channel: '#deal', since: 0 });
  await bobAgain.next('JOINED');
  const history = await bobAgain.next('HISTORY');
  const kept = bobAgain.pending('MSG').map((m) => m.content);
  t.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => `m${i + 1}`), 'history kept is a prefix, in order, with no holes');
  t.is(history.count, kept.length);
  bobAgain.send({ type: 'LIST_PROPOSALS' });
  t.like((await bobAgain.next('PROPOSALS')).list, [{ id, status: 'accepted' }], 'the acknowledged ACCEPT survived kill -9');
});

test('bad data dirs stop serve with exit 1 and one line that says what to do', async (t) => {
  const dir = await tempDir(t);
  const blocker = join(dir, 'a-file');
  await writeFile(blocker, 'not a directory');
  const corrupt = join(dir, 'corrupt');
  await mkdir(corrupt);
  await writeFile(join(corrupt, DATA_FILE), 'this is not SQLite '.repeat(400));
  const newer = join(dir, 'newer');
  await mkdir(newer);
  const db = new Database(join(newer, DATA_FILE));
  db.pragma('user_version = 99');
  db.close();
  const cases: Array<[string, RegExp]> = [
    [join(blocker, 'data'), /cannot create the data dir .*choose another --data-dir/],
    [corrupt, /is not an agentchat data file or is corrupt.*move it aside/],
    [newer, /written by a newer agentchat \(schema 99; this one knows up to 1\)/],
  ];
  for (const [dataDir, message] of cases) {
    const run = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]);
    t.is(run.code, 1, run.stderr);
    t.regex(run.stderr, message);
    t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
  t.throws(() => sqliteStore({ dataDir: corrupt }), { instanceOf: StoreError });
});

test('history retention holds in count and bytes, in memory and on disk', async (t) => {
  const dir = await tempDir(t);
  const open = await durableRelay(t, dir, { pluginOptions: { history: { keep: 3, size: 3, maxChannelBytes: 100_000 } } });
  let relay = await open();
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (let i = 1; i <= 10; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
    await alice.next('MSG');
  }
  await relay.close();
  const file = new Database(join(dir, DATA_FILE), { readonly: true });
  t.teardown(() => file.close());
  const stored = () => (file.prepare("SELECT COUNT(*) AS n FROM logs WHERE ns = 'history'").get() as { n: number }).n;
  t.is(stored(), 3, 'what memory evicted went from the file too, before any restart');
  relay = await open();
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((m) => m.content), ['m8', 'm9', 'm10']);
  t.is(stored(), 3, 'a restart trims the file to the same bound');
});

test('a hoster plugin keeps its own state in the store, in its namespace: the example topics survive a restart', async (t) => {
  const dir = await tempDir(t);
  const example = '../examples/topic-plugin.mjs';
  const { default: topics } = (await import(example)) as { default: import('../kernel/index.js').AnyPlugin };
  const open = await durableRelay(t, dir, { extraPlugins: [topics] });
  let relay = await open();
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'TOPIC', channel: '#general', topic: 'kept across restarts' });
  await alice.next('TOPIC');
  await relay.close();
  relay = await open();
  const bob = await connectAs(t, relay, 'bob');
  bob.send({ type: 'TOPIC', channel: '#general' });
  t.is((await bob.next('TOPIC')).topic, 'kept across restarts');
});

test('the in-memory store keeps no more history than the plugin does (an attack on the store is bounded as well)', async (t) => {
  const { memoryStore } = await import('../store/index.js');
  const store = memoryStore();
  const relay = createRelay({ port: 0, host: '127.0.0.1', log: false, store, rateMsg: { burst: 100, perSec: 100 }, pluginOptions: { history: { keep: 5, size: 5 } } });
  await relay.listen();
  t.teardown(() => relay.close());
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (let i = 1; i <= 30; i++) alice.send({ type: 'MSG', to: '#general', content: `m${i}` });
  await alice.next('MSG', (m) => m.content === 'm30');
  await relay.close();
  const left = await store.namespace('history').tail<string>('#general', 1_000);
  t.deepEqual(left.map((e) => e.seq), [26, 27, 28, 29, 30]);
});

test('two relays opening a new data file at once migrate it once; both can use it', async (t) => {
  const { runModule } = await import('./helpers/cli.js');
  for (let round = 0; round < 3; round++) {
    const dir = await tempDir(t);
    const source = `import { sqliteStore } from 'agentchat';
const store = sqliteStore({ dataDir: ${JSON.stringify(dir)} });
await store.namespace('race').put(String(process.pid), 1);
await store.close();
console.log('ok');`;
    const runs = await Promise.all([runModule(t, source), runModule(t, source)]);
    for (const run of runs) t.is(run.stdout.trim(), 'ok', run.stderr);
  }
});
