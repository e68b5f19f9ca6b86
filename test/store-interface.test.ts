/**
 * One storage interface, three backends: the same behaviours hold on memory, SQLite and
 * Redis (a real redis-server), so a plugin written against one runs on any.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStore, redisStore, sqliteStore, type Store, type StoredValue } from '../store/index.js';
import { redisTest, startRedis } from './helpers/redis.js';

type Open = (t: ExecutionContext) => Promise<Store>;

const backends: Array<[string, Open, typeof test]> = [
  ['memory', async () => memoryStore(), test],
  ['sqlite', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'agentchat-store-'));
    const store = sqliteStore({ dataDir: dir });
    t.teardown(async () => {
      await store.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    });
    return store;
  }, test],
  ['redis', async (t) => {
    const redis = await startRedis(t);
    const store = redisStore({ url: redis.url });
    await store.open();
    t.teardown(() => store.close().catch(() => {}));
    return store;
  }, redisTest],
];

for (const [kind, open, run] of backends) {
  run(`${kind}: records put, get, delete and list by prefix in key order`, async (t) => {
    const store = await open(t);
    const ns = store.namespace('plugin-a');
    await ns.put('b:2', { n: 2 });
    await ns.put('a:1', { n: 1, nested: [true, null, 'x'] });
    await ns.put('b:1', 'one');
    t.deepEqual(await ns.get('a:1'), { n: 1, nested: [true, null, 'x'] });
    t.is(await ns.get('missing'), undefined);
    t.deepEqual(await ns.entries('b:'), [['b:1', 'one'], ['b:2', { n: 2 }]]);
    await ns.delete('b:1');
    t.deepEqual((await ns.entries()).map(([key]) => key), ['a:1', 'b:2']);
    t.deepEqual(await store.namespace('plugin-b').entries(), [], 'namespaces do not see each other');
    t.is(store.health(), null);
  });

  run(`${kind}: logs append in seq order, read by range and tail, keep lastSeq when dropped, and refuse a seq that is not after the last`, async (t) => {
    const store = await open(t);
    const ns = store.namespace('log-test');
    for (let seq = 1; seq <= 5; seq++) await ns.append('s', seq, `v${seq}`);
    ns.appendBehind('s', 6, 'v6');
    await store.flush();
    t.deepEqual((await ns.range<string>('s', 2, 2)).map((e) => [e.seq, e.value]), [[3, 'v3'], [4, 'v4']]);
    t.deepEqual((await ns.tail<string>('s', 2)).map((e) => e.value), ['v5', 'v6']);
    t.true((await ns.tail('s', 1))[0].at > 0);
    t.is(await ns.lastSeq('s'), 6);
    t.deepEqual(await ns.streams(), ['s']);
    await t.throwsAsync(ns.append('s', 6, 'again'));
    ns.dropBefore('s', 5);
    await store.flush();
    t.deepEqual((await ns.range<string>('s', 0, 10)).map((e) => e.seq), [5, 6]);
    await ns.trim('s', { maxEntries: 1 });
    t.deepEqual((await ns.range<string>('s', 0, 10)).map((e) => e.seq), [6]);
    await ns.dropStream('s');
    t.deepEqual(await ns.range('s', 0, 10), []);
    t.is(await ns.lastSeq('s'), 6, 'lastSeq stays, so ids are never reused');
    t.deepEqual(await ns.streams(), []);
  });

  run(`${kind}: trim holds a byte budget, dropping the oldest first`, async (t) => {
    const store = await open(t);
    const ns = store.namespace('bytes');
    const big: StoredValue = 'x'.repeat(1000);
    for (let seq = 1; seq <= 10; seq++) await ns.append('s', seq, big);
    await ns.trim('s', { maxBytes: 3500 });
    const left = (await ns.range('s', 0, 100)).map((e) => e.seq);
    t.true(left.length >= 2 && left.length <= 3, `kept ${left.length}`);
    t.is(left.at(-1), 10, 'the newest stay');
  });
}

redisTest('redis: a change one relay makes reaches the others\' watchers, not its own, with the value (or undefined when deleted)', async (t) => {
  const redis = await startRedis(t);
  const [one, two] = [redisStore({ url: redis.url }), redisStore({ url: redis.url })];
  await Promise.all([one.open(), two.open()]);
  t.teardown(async () => {
    await one.close();
    await two.close();
  });
  const seenByTwo: Array<[string, StoredValue | undefined]> = [];
  const seenByOne: string[] = [];
  const arrived = new Promise<void>((resolve) => {
    two.watch('channels', (key, value) => {
      seenByTwo.push([key, value]);
      if (seenByTwo.length === 2) resolve();
    });
  });
  one.watch('channels', (key) => seenByOne.push(key));
  // Watchers subscribe on their own connection: wait until both are listening (a PING through each store answers after its SUBSCRIBE).
  await Promise.all([one.client.ping(), two.client.ping()]);
  for (let i = 0; i < 100 && (await one.client.pubsub('NUMSUB', one.changes) as [string, number])[1] < 2; i++) await one.client.ping();
  await one.namespace('channels').put('channel:#x', { name: '#x' });
  await one.namespace('channels').delete('channel:#x');
  await arrived;
  t.deepEqual(seenByTwo, [['channel:#x', { name: '#x' }], ['channel:#x', undefined]]);
  t.deepEqual(seenByOne, []);
});

