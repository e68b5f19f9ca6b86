/**
 * ioredis vs node-redis (`redis`), measured for what the cluster does with its Redis client:
 * PUBLISH a relayed message (many in flight), EVALSHA a small script (INCR a msg_id, RPUSH the
 * history, PUBLISH) and receive pub/sub messages. Against a local redis-server; each figure is
 * the median of 3 interleaved rounds (A B C A B C …), so compared figures share the machine's noise.
 *
 *   node --import tsx bench/redis-clients.ts [--reps 3] [--quick]
 *
 * Client CPU is this process's CPU (process.cpuUsage) per operation: in the cluster that is
 * relay CPU. Redis CPU comes from /proc (schedstat). The pub/sub publisher is `redis-cli --pipe`
 * in its own process, so the receive figures measure the subscriber alone.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Redis as IORedis } from 'ioredis';
import { createClient } from 'redis';
import { cpuOf } from './proc.js';
import { redisMissing, startBenchRedis, type BenchRedis } from './redis-server.js';
import { median, minMax } from './stats.js';

const { values: opt } = parseArgs({ options: { reps: { type: 'string', default: '3' }, quick: { type: 'boolean', default: false } } });
const reps = Math.max(1, Number(opt.reps));
const scale = opt.quick ? 0.2 : 1;
const PUBLISHES = Math.round(100_000 * scale);
const IN_FLIGHT = 1000;
const EVALS_SEQUENTIAL = Math.round(10_000 * scale);
const EVALS_CONCURRENT = Math.round(50_000 * scale);
const EVAL_IN_FLIGHT = 100;
const RECEIVES = Math.round(100_000 * scale);
const WARM_RECEIVES = 5000;
// About a relayed MSG frame: the serialized JSON a relay would publish.
const PAYLOAD = JSON.stringify({ type: 'MSG', from: '@a1b2c3d4', to: '#general', content: 'x'.repeat(100), ts: Date.now(), msg_id: 123456 });

/** What the cluster keeps per channel message: the next msg_id, the history, the fan-out. */
const SCRIPT = `local id = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return id`;

/** The few calls measured, over either library. */
interface Client {
  publish(channel: string, message: string): Promise<unknown>;
  scriptLoad(script: string): Promise<string>;
  evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  /** A second connection in subscriber mode; `onMessage` gets each message on `channel`. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  flush(): Promise<unknown>;
  close(): Promise<void>;
}

interface Library {
  id: string;
  label: string;
  connect(url: string): Promise<Client>;
}

async function ioredisClient(url: string, autoPipelining: boolean): Promise<Client> {
  const options = { enableAutoPipelining: autoPipelining, lazyConnect: true, maxRetriesPerRequest: 0 };
  const main = new IORedis(url, options);
  await main.connect();
  let sub: IORedis | null = null;
  return {
    publish: (channel, message) => main.publish(channel, message),
    scriptLoad: async (script) => String(await main.script('LOAD', script)),
    evalsha: (sha, keys, args) => main.evalsha(sha, keys.length, ...keys, ...args),
    async subscribe(channel, onMessage) {
      sub = new IORedis(url, options);
      await sub.connect();
      sub.on('message', (_channel: string, message: string) => onMessage(message));
      await sub.subscribe(channel);
    },
    flush: () => main.flushdb(),
    async close() {
      main.disconnect();
      sub?.disconnect();
    },
  };
}

async function nodeRedisClient(url: string): Promise<Client> {
  const main = createClient({ url });
  main.on('error', () => {}); // the measurement fails on its own if the connection does
  await main.connect();
  let sub: typeof main | null = null;
  return {
    publish: (channel, message) => main.publish(channel, message),
    scriptLoad: (script) => main.scriptLoad(script),
    evalsha: (sha, keys, args) => main.evalSha(sha, { keys, arguments: args }),
    async subscribe(channel, onMessage) {
      sub = main.duplicate();
      sub.on('error', () => {});
      await sub.connect();
      await sub.subscribe(channel, (message) => onMessage(message));
    },
    flush: () => main.flushDb(),
    async close() {
      main.destroy();
      sub?.destroy();
    },
  };
}

const LIBRARIES: Library[] = [
  { id: 'ioredis', label: 'ioredis (default)', connect: (url) => ioredisClient(url, false) },
  { id: 'ioredis-auto', label: 'ioredis (enableAutoPipelining)', connect: (url) => ioredisClient(url, true) },
  { id: 'node-redis', label: 'node-redis (redis)', connect: nodeRedisClient },
];

interface Figure {
  /** Operations (or received messages) per second. */
  perSec: number;
  /** This process's CPU per operation, µs. */
  clientUs: number;
  /** redis-server's CPU per operation, µs. */
  redisUs: number;
}

/** Run `ops` operations through `body` and measure rate, client CPU and Redis CPU. */
async function measure(redis: BenchRedis, ops: number, body: () => Promise<void>): Promise<Figure> {
  const cpu0 = process.cpuUsage();
  const redis0 = cpuOf(redis.pid).schedS;
  const t0 = process.hrtime.bigint();
  await body();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return {
    perSec: ops / seconds,
    clientUs: (cpu.user + cpu.system) / ops,
    redisUs: ((cpuOf(redis.pid).schedS - redis0) * 1e6) / ops,
  };
}

/** `count` calls of `op`, at most `window` in flight. */
async function inFlight(count: number, window: number, op: (i: number) => Promise<unknown>): Promise<void> {
  for (let done = 0; done < count; done += window) {
    const batch: Promise<unknown>[] = [];
    for (let i = done; i < Math.min(count, done + window); i++) batch.push(op(i));
    await Promise.all(batch);
  }
}

/** RESP for `count` PUBLISHes of PAYLOAD, for redis-cli --pipe. */
function publishCommands(channel: string, count: number): Buffer {
  const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const one = Buffer.from(`*3\r\n${bulk('PUBLISH')}${bulk(channel)}${bulk(PAYLOAD)}`);
  return Buffer.concat(Array.from({ length: count }, () => one));
}

type Measure = 'publish' | 'evalsha-seq' | 'evalsha-100' | 'receive';
const MEASURES: Array<{ id: Measure; label: string }> = [
  { id: 'publish', label: `PUBLISH, ${IN_FLIGHT} in flight` },
  { id: 'evalsha-seq', label: 'EVALSHA round trips, one at a time' },
  { id: 'evalsha-100', label: `EVALSHA, ${EVAL_IN_FLIGHT} in flight` },
  { id: 'receive', label: 'pub/sub receive (redis-cli --pipe publishes)' },
];

async function runOnce(redis: BenchRedis, library: Library, which: Measure): Promise<Figure> {
  const client = await library.connect(redis.url);
  try {
    await client.flush();
    if (which === 'publish') {
      await inFlight(1000, IN_FLIGHT, () => client.publish('warm', PAYLOAD));
      return await measure(redis, PUBLISHES, () => inFlight(PUBLISHES, IN_FLIGHT, () => client.publish('chan:bench', PAYLOAD)));
    }
    if (which === 'evalsha-seq' || which === 'evalsha-100') {
      const sha = await client.scriptLoad(SCRIPT);
      const call = () => client.evalsha(sha, ['seq:bench', 'hist:bench'], [PAYLOAD, 'chan:bench']);
      await inFlight(500, 1, call);
      if (which === 'evalsha-seq') return await measure(redis, EVALS_SEQUENTIAL, () => inFlight(EVALS_SEQUENTIAL, 1, call));
      return await measure(redis, EVALS_CONCURRENT, () => inFlight(EVALS_CONCURRENT, EVAL_IN_FLIGHT, call));
    }
    let received = 0;
    let target = WARM_RECEIVES;
    let done: () => void = () => {};
    const arrived = () => new Promise<void>((resolve) => (done = resolve));
    let all = arrived();
    await client.subscribe('chan:recv', () => {
      if (++received === target) done();
    });
    const publish = async (count: number) => {
      const cli = spawn('redis-cli', ['-p', String(redis.port), '--pipe'], { stdio: ['pipe', 'ignore', 'inherit'] });
      cli.stdin.end(publishCommands('chan:recv', count));
      await Promise.all([all, once(cli, 'exit')]);
    };
    await publish(WARM_RECEIVES); // warm: the receive path compiled before the window
    target += RECEIVES;
    all = arrived();
    return await measure(redis, RECEIVES, () => publish(RECEIVES));
  } finally {
    await client.close();
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const missing = redisMissing();
  if (missing) {
    console.log(`redis-clients bench skipped: ${missing}`);
    return;
  }
  const redis = await startBenchRedis();
  const results = new Map<string, Figure[]>();
  try {
    for (let round = 0; round < reps; round++) {
      for (const m of MEASURES) {
        for (const library of LIBRARIES) {
          const figure = await runOnce(redis, library, m.id);
          const key = `${m.id}/${library.id}`;
          results.set(key, [...(results.get(key) ?? []), figure]);
          process.stderr.write(`round ${round + 1}/${reps} ${m.id} ${library.id}: ${fmt(figure.perSec)}/s, client ${fmt(figure.clientUs, 2)} µs/op\n`);
        }
      }
    }
  } finally {
    await redis.stop();
  }

  const med = (key: string, f: keyof Figure) => median((results.get(key) ?? []).map((r) => r[f]));
  const range = (key: string) => minMax((results.get(key) ?? []).map((r) => r.perSec)).map((n) => fmt(n)).join('–');
  console.log(`\nRedis clients, medians of ${reps} interleaved rounds (${process.version}, payload ${PAYLOAD.length} bytes)\n`);
  console.log('| measure | client | ops/s (min–max) | client µs CPU/op | redis µs CPU/op |');
  console.log('|---|---|---|---|---|');
  for (const m of MEASURES) {
    for (const library of LIBRARIES) {
      const key = `${m.id}/${library.id}`;
      console.log(`| ${m.label} | ${library.label} | ${fmt(med(key, 'perSec'))} (${range(key)}) | ${fmt(med(key, 'clientUs'), 2)} | ${fmt(med(key, 'redisUs'), 2)} |`);
    }
  }
  console.log('\n| measure | ioredis ÷ node-redis, ops/s | ioredis-auto ÷ node-redis, ops/s | ioredis ÷ node-redis, client CPU/op | ioredis-auto ÷ node-redis, client CPU/op |');
  console.log('|---|---|---|---|---|');
  for (const m of MEASURES) {
    const ratio = (lib: string, f: keyof Figure) => fmt(med(`${m.id}/${lib}`, f) / med(`${m.id}/node-redis`, f), 2);
    console.log(`| ${m.label} | ${ratio('ioredis', 'perSec')} | ${ratio('ioredis-auto', 'perSec')} | ${ratio('ioredis', 'clientUs')} | ${ratio('ioredis-auto', 'clientUs')} |`);
  }
}

await main();
