/**
 * A full disk (issue 11): made with PRAGMA max_page_count on the relay's own data file
 * connection, capped at the pages the file has, and the room left in them filled.
 * A committed write (a channel, an invitation, a proposal step) is refused with
 * UNAVAILABLE, reason DISK_FULL, and not done; written-behind history is held and
 * retried, the log has one line for the outage, /readyz is 503; the relay keeps
 * serving, and when space returns it is ready again, the held history is on disk and
 * the refused writes succeed. The store's latency is on /metrics.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptSigningString, proposalCanonicalString, PROPOSAL_SIG_FORMAT_JSON, signString } from '../protocol/index.js';
import { sqliteStore, type Store, type StoreError, type StoreOp } from '../store/index.js';
import { connectAs, expectedAgentId, newKeyPair, NO_ADDRESS_LIMITS, startRelay, type Frame } from './helpers/relay-client.js';

interface Written {
  op: StoreOp;
  error?: StoreError;
}

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

/** A metric's value in Prometheus text, by its exact series (name plus labels as printed). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

type Pragma = (source: string, options?: { simple?: boolean }) => unknown;

/** Fill the data file: no page past the ones it has, and the room left in its two b-trees (records, logs) taken. */
async function fillDisk(t: ExecutionContext, store: Store, pragma: Pragma): Promise<void> {
  pragma(`max_page_count = ${pragma('page_count', { simple: true }) as number}`);
  const filler = store.namespace('filler');
  let n = 0;
  for (const write of [(s: number) => filler.put(`f${n}`, 'x'.repeat(s)), (s: number) => filler.append('fill', n, 'x'.repeat(s))]) {
    for (const size of [1024, 256, 64, 16, 4, 1]) {
      for (;;) {
        n++;
        try {
          await write(size);
        } catch (err) {
          t.true((err as StoreError).diskFull, String(err));
          break;
        }
      }
    }
  }
}

test('history held for a full disk is bounded: past ten batches the oldest go, and health() says how many', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agentchat-full-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let pragma: Pragma | undefined;
  const store = sqliteStore({ dataDir: dir, flushEntries: 5, tune: (db) => (pragma = db.pragma.bind(db)) });
  t.teardown(() => store.close().catch(() => undefined));
  await fillDisk(t, store, pragma as Pragma);
  const history = store.namespace('history');
  for (let seq = 1; seq <= 80; seq++) history.appendBehind('#general', seq, `message ${seq}`);
  await t.throwsAsync(store.flush(), { message: /writing history behind: the disk holding .* is full/ });
  t.regex(store.health() ?? '', /is full; free space .*\(30 history entries waiting for room were dropped\)$/);
  (pragma as Pragma)('max_page_count = 1073741823');
  await store.flush();
  t.is(store.health(), null);
  const kept = await history.range<string>('#general', 0, 100);
  t.deepEqual(kept.map((e) => e.seq), Array.from({ length: 50 }, (_, i) => i + 31), 'the newest 50 (ten batches of 5) were kept, in order');
});

test('a full disk refuses committed writes with DISK_FULL, holds history, logs once, flips /readyz, and recovers when space returns', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agentchat-full-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let pragma: Pragma | undefined;
  const store = sqliteStore({ dataDir: dir, tune: (db) => (pragma = db.pragma.bind(db)) });
  if (pragma === undefined) throw new Error('tune did not run');
  const setPragma = pragma;

  // Every write the store reports, and a way to await the next one that matches.
  const written: Written[] = [];
  const waiters: Array<{ test: (w: Written) => boolean; resolve: () => void }> = [];
  store.observe?.((op, _seconds, error) => {
    const w = { op, error };
    written.push(w);
    for (const waiter of waiters.filter((x) => x.test(w))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  const nextWrite = (test: (w: Written) => boolean) => new Promise<void>((resolve) => waiters.push({ test, resolve }));

  const logs: string[] = [];
  const relay = await startRelay(t, { store, log: (line) => logs.push(line), pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const aliceKey = newKeyPair();
  const bobKey = newKeyPair();
  const alice = await connectAs(t, relay, 'alice', aliceKey);
  const bob = await connectAs(t, relay, 'bob', bobKey);
  const bobId = expectedAgentId(bobKey.publicKey);
  alice.send({ type: 'CREATE_CHANNEL', channel: '#private', invite_only: true });
  await alice.next('JOINED', (f) => f.channel === '#private');
  await alice.join('#general');
  await bob.join('#general');
  const fields = { to: bobId, task: 'index the archive' };
  alice.send({ type: 'PROPOSAL', ...fields, sig: signString(aliceKey.privateKey, proposalCanonicalString(fields)), sig_format: PROPOSAL_SIG_FORMAT_JSON });
  const proposalId = String((await bob.next('PROPOSAL')).id);
  const accept = { type: 'ACCEPT', proposal_id: proposalId, sig: signString(bobKey.privateKey, acceptSigningString(proposalId)) };

  await fillDisk(t, store, setPragma);

  // Filling flapped (a smaller write fitting where a larger did not); the outage the relay lives through starts here.
  const outageStart = logs.length;
  t.like(JSON.parse(logs.filter((l) => l.includes('"store_write_failed"')).at(-1) ?? '{}'), { level: 'error', disk_full: true });

  alice.send({ type: 'CREATE_CHANNEL', channel: '#full' });
  const refused = await alice.next('ERROR');
  t.like(refused, { code: 'UNAVAILABLE', reason: 'DISK_FULL', ref: 'CREATE_CHANNEL' });
  t.regex(String(refused.message), /^the relay's disk is full, so channel #full was not saved and not done; try again later$/);
  bob.send({ type: 'JOIN', channel: '#full' });
  t.like(await bob.next('ERROR'), { code: 'CHANNEL_NOT_FOUND' }, 'the channel was not made');

  alice.send({ type: 'INVITE', channel: '#private', agent: bobId });
  t.like(await alice.next('ERROR'), { code: 'UNAVAILABLE', reason: 'DISK_FULL', ref: 'INVITE' });
  bob.send({ type: 'JOIN', channel: '#private' });
  t.like(await bob.next('ERROR'), { code: 'NOT_INVITED' }, 'the invitation was not made');

  bob.send(accept);
  t.like(await bob.next('ERROR'), { code: 'UNAVAILABLE', reason: 'DISK_FULL', ref: 'ACCEPT' });
  bob.send({ type: 'LIST_PROPOSALS' });
  t.like((await bob.next('PROPOSALS')).list, [{ id: proposalId, status: 'pending' }], 'the step was not taken');

  // Messages still flow; their history cannot be written, and is held.
  const flushFailed = nextWrite((w) => w.op === 'flush' && w.error !== undefined);
  for (const content of ['during-1', 'during-2', 'during-3']) alice.send({ type: 'MSG', to: '#general', content });
  for (const content of ['during-1', 'during-2', 'during-3']) await bob.next('MSG', (f: Frame) => f.content === content);
  await flushFailed;
  // And retried (a second failed flush): the outage's one line was its first; every failure since is counted, not logged.
  await nextWrite((w) => w.op === 'flush' && w.error !== undefined);
  const during = logs.slice(outageStart).map((l) => JSON.parse(l) as { event: string });
  t.deepEqual(during.filter((l) => l.event.startsWith('store_')), [], 'no store line while the outage goes on');
  t.true(written.filter((w) => w.error !== undefined).length >= 4);
  t.regex(JSON.parse(logs.filter((l) => l.includes('"store_write_failed"')).at(-1) ?? '{}').error as string, /the disk holding .*agentchat\.db is full; free space/);

  const notReady = await get(relay.port, '/readyz');
  t.is(notReady.status, 503);
  t.regex(JSON.parse(notReady.body).reason as string, /^store \(sqlite\): the disk holding .* is full/);
  t.like(await alice.ping(), { type: 'PONG' }, 'the relay serves on');

  // Space returns: the next retry writes the held history and the store is healthy again.
  const recovered = nextWrite((w) => w.error === undefined);
  setPragma('max_page_count = 1073741823');
  await recovered;
  t.is((await get(relay.port, '/readyz')).status, 200);
  t.true(logs.some((l) => (JSON.parse(l) as { event: string }).event === 'store_recovered'));
  const kept = await store.namespace('history').tail<string>('#general', 10);
  t.deepEqual(kept.map((e) => (JSON.parse(e.value) as { content: string }).content), ['during-1', 'during-2', 'during-3'], 'no history lost');

  alice.send({ type: 'CREATE_CHANNEL', channel: '#full' });
  await alice.next('JOINED', (f) => f.channel === '#full');
  alice.send({ type: 'INVITE', channel: '#private', agent: bobId });
  await alice.next('INVITED');
  await bob.join('#private');
  bob.send(accept);
  t.like(await bob.next('ACCEPT'), { proposal_id: proposalId, status: 'accepted' });

  const metrics = (await get(relay.port, '/metrics')).body;
  t.true(value(metrics, 'agentchat_store_operation_seconds_count{op="flush"}') >= 1);
  t.true(value(metrics, 'agentchat_store_operation_seconds_count{op="put"}') >= 3);
  t.true(value(metrics, 'agentchat_store_failures_total{op="flush"}') >= 2);
  t.true(value(metrics, 'agentchat_store_failures_total{op="put"}') >= 2);
  t.is(value(metrics, 'agentchat_store_healthy'), 1);
});
