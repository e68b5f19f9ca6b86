/**
 * `serve --workers N --redis URL`: N relay processes on one port under a supervisor. What a
 * client sees: one listening line, several processes answering on that port, a killed worker
 * replaced, SIGTERM ending them all; and the refusals of --workers without Redis or with bad values.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { AgentChatClient } from '../client/index.js';
import { MAX_RESTARTS_PER_MINUTE, parseWorkers, workerArgs } from '../cli/workers.js';
import { serveOptions } from '../cli/commands/serve.js';
import { UsageError } from '../cli/errors.js';
import { runCli, spawnCli, tempDir, type CliProcess } from './helpers/cli.js';
import { redisMissing, startRedis } from './helpers/redis.js';

/**
 * One at a time: each starts a Redis and three or more node processes, and a 2-core machine
 * running the rest of the suite beside them would only make every one of them slow.
 */
const redisTest = (redisMissing ? test.skip : test.serial) as typeof test;

/** The pid in the relay information document of one fresh HTTP connection to `port`. */
function answeringPid(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', headers: { accept: 'application/json' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve((JSON.parse(body) as { pid: number }).pid));
    });
    req.on('error', reject);
  });
}

/**
 * Fresh connections until `want` distinct pids answered (or `max` connections): the kernel spreads
 * connections over SO_REUSEPORT sockets by a hash of the address pair, so a handful suffices.
 */
async function answeringPids(port: number, want: number, max = 400): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < max && pids.size < want; i++) pids.add(await answeringPid(port));
  return pids;
}

/** The supervisor's worker processes, from /proc. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the `nth` match of `pattern` in stderr (text already written counts); rejects if the process exits first. */
function stderrMatch(proc: CliProcess, pattern: RegExp, nth = 1): Promise<RegExpMatchArray> {
  const global = new RegExp(pattern.source, 'g');
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = [...proc.stderr().matchAll(global)][nth - 1];
      if (match === undefined) return false;
      proc.child.stderr.off('data', onData);
      resolve(match);
      return true;
    };
    const onData = () => void check();
    if (check()) return;
    proc.child.stderr.on('data', onData);
    void proc.exited.then(() => {
      if (!check()) reject(new Error(`exited before stderr matched ${pattern} ${nth} times; stderr:\n${proc.stderr()}`));
    });
  });
}

/** Waits for processes that are not our children to be gone: there is no exit event for them, so check every 50 ms. */
async function gone(t: ExecutionContext, pids: number[], withinMs = 15_000): Promise<void> {
  const until = Date.now() + withinMs;
  while (pids.some(alive) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(pids.filter(alive), [], 'every worker has exited');
}

/** How long N node processes may take to start on a loaded 2-core machine (startServe allows one relay 8 s). */
const START_MS = 45_000;

/** `serve --workers COUNT` on a Redis of this test's own; resolves once the supervisor printed its listening line. */
async function startWorkers(t: ExecutionContext, count: string) {
  const redis = await startRedis(t);
  const serve = spawnCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--workers', count, '--redis', redis.url, '--max-conns-per-ip', '0', '--conn-rate-per-ip', '0']);
  const match = /^agentchat listening on ws:\/\/127\.0\.0\.1:(\d+)$/.exec(await serve.line(undefined, START_MS));
  if (!match) throw new Error(`unexpected first line from serve --workers: ${serve.lines[0]}`);
  const port = Number(match[1]);
  return { redis, serve: Object.assign(serve, { port, url: `ws://127.0.0.1:${port}` }) };
}

redisTest('serve --workers 2 prints one listening line, and two relay processes answer on that one port', async (t) => {
  const { serve } = await startWorkers(t, '2');
  t.deepEqual(serve.lines.filter((l) => l.startsWith('agentchat listening on')), [`agentchat listening on ws://127.0.0.1:${serve.port}`]);
  const workers = childrenOf(serve.child.pid!);
  t.is(workers.length, 2);
  const pids = await answeringPids(serve.port, 2);
  t.deepEqual([...pids].sort(), [...workers].sort(), 'both workers answer, and nothing else does');

  // Agents connect on that port as to one relay.
  const clients = Array.from({ length: 10 }, (_, i) => new AgentChatClient({ server: serve.url, name: `w${i}`, requestTimeoutMs: 5000 }));
  t.teardown(() => clients.forEach((c) => c.disconnect()));
  const welcomes = await Promise.all(clients.map((c) => c.connect()));
  t.true(welcomes.every((w) => w.type === 'WELCOME'));
});

redisTest('serve --workers auto runs one worker per core', async (t) => {
  const { serve } = await startWorkers(t, 'auto');
  t.is(childrenOf(serve.child.pid!).length, availableParallelism());
});

redisTest('a worker killed with SIGKILL is restarted, and the port is served by the new one', async (t) => {
  const { serve } = await startWorkers(t, '2');
  const [victim, survivor] = childrenOf(serve.child.pid!);
  process.kill(victim, 'SIGKILL');
  await stderrMatch(serve, new RegExp(`worker \\d \\(pid ${victim}\\) was killed by SIGKILL; restarting it in \\d+ ms`));
  const [, replacement] = await stderrMatch(serve, /worker \d \(pid (\d+)\) listening again/);
  t.deepEqual(childrenOf(serve.child.pid!).sort(), [survivor, Number(replacement)].sort());
  const pids = await answeringPids(serve.port, 2);
  t.deepEqual([...pids].sort(), [survivor, Number(replacement)].sort(), 'both the survivor and the replacement answer');
  t.false(pids.has(victim));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  redisTest(`${signal} to the supervisor stops every worker, then the supervisor exits 0`, async (t) => {
    const { serve } = await startWorkers(t, '2');
    const workers = childrenOf(serve.child.pid!);
    const client = new AgentChatClient({ server: serve.url, name: 'stayer', reconnect: false });
    t.teardown(() => client.disconnect());
    await client.connect();
    const closed = once(client, 'disconnect');
    serve.child.kill(signal);
    t.is(await serve.exited, 0);
    t.deepEqual(workers.filter(alive), [], 'no worker outlives the supervisor');
    const [info] = (await closed) as [{ code: number }];
    t.true(info.code === 1001 || info.code === 1012, `the session was closed to reconnect elsewhere (${info.code})`);
    t.regex(serve.stderr(), new RegExp(`agentchat: ${signal}, stopping 2 workers`));
  });
}

redisTest('workers whose supervisor was killed with SIGKILL stop on their own', async (t) => {
  const { serve } = await startWorkers(t, '2');
  const workers = childrenOf(serve.child.pid!);
  serve.child.kill('SIGKILL');
  await serve.exited;
  await gone(t, workers);
});

redisTest('a worker that fails to start makes the supervisor stop: exit 1, one line of its own, no listening line', async (t) => {
  const dir = await tempDir(t);
  const plugin = join(dir, 'crash.mjs');
  await writeFile(plugin, "export default { name: 'crash', setup() { throw new Error('this plugin always fails'); } };\n");
  const redis = await startRedis(t);
  const run = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--workers', '2', '--redis', redis.url, '--plugin', plugin]);
  t.is(run.code, 1);
  t.is(run.stdout, '', 'never claimed to listen');
  const supervisor = run.stderr.split('\n').filter((l) => l.startsWith('agentchat: worker'));
  t.is(supervisor.length, 1);
  t.regex(supervisor[0], /^agentchat: worker \d \(pid \d+\) exited with code 1 before it listened; not starting \(its log above says why\)$/);
  t.regex(run.stderr, /this plugin always fails/, "the worker's own error is there to read");
});

redisTest('a worker that keeps crashing is restarted at most 5 times a minute, then the supervisor gives up with exit 1', async (t) => {
  const { serve } = await startWorkers(t, '2');
  const others = childrenOf(serve.child.pid!);
  let victim = others[0];
  for (let restart = 1; restart <= MAX_RESTARTS_PER_MINUTE; restart++) {
    process.kill(victim, 'SIGKILL');
    const [, slot, delay] = await stderrMatch(serve, new RegExp(`worker (\\d) \\(pid ${victim}\\) was killed by SIGKILL; restarting it in (\\d+) ms \\(restart ${restart} of at most ${MAX_RESTARTS_PER_MINUTE} a minute\\)`));
    t.is(Number(delay), 100 * 2 ** (restart - 1), 'the delay doubles');
    victim = Number((await stderrMatch(serve, new RegExp(`worker ${slot} \\(pid (\\d+)\\) listening again`), restart))[1]);
  }
  process.kill(victim, 'SIGKILL');
  t.is(await serve.exited, 1);
  t.regex(serve.stderr(), new RegExp(`agentchat: worker \\d \\(pid ${victim}\\) was killed by SIGKILL, its ${MAX_RESTARTS_PER_MINUTE + 1}th crash within a minute; giving up`));
  t.deepEqual(others.slice(1).filter(alive), [], 'the other worker was stopped too');
});

test('--workers without --redis is refused with exit 2 and one line saying why', async (t) => {
  const run = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--memory', '--workers', '2']);
  t.is(run.code, 2);
  t.is(run.stdout, '');
  t.is(run.stderr, 'error: --workers needs --redis URL: relays sharing a port without Redis would split the agents between relays that cannot see each other\n');
});

test('bad --workers values are refused with exit 2 and one line each', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--workers', '0'], /^error: --workers must be an integer from 1 to 256, got "0"\n$/],
    [['--workers', '1.5'], /^error: --workers must be an integer from 1 to 256, got "1\.5"\n$/],
    [['--workers', 'many'], /^error: --workers must be an integer from 1 to 256, got "many"\n$/],
    [['--workers', '-2'], /^error: --workers must be an integer from 1 to 256, got "-2"\n$/],
    [['--workers', '1000'], /^error: --workers must be an integer from 1 to 256, got "1000"\n$/],
    [['--workers'], /^error: --workers needs a count or auto, e.g. --workers 4 or --workers auto \(one per core\)\n$/],
  ];
  await Promise.all(cases.map(async ([args, message]) => {
    const run = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--redis', 'redis://127.0.0.1:6379', ...args]);
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr, message, args.join(' '));
  }));
});

test('bad --redis values are refused with exit 2 and one line', async (t) => {
  for (const value of ['http://127.0.0.1:6379', '127.0.0.1:6379', 'redis://']) {
    const run = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--redis', value]);
    t.is(run.code, 2, value);
    t.is(run.stderr, `error: --redis must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379, got ${JSON.stringify(value)}\n`);
  }
});

redisTest('serve --workers refuses a busy port like a single relay does, and a single relay refuses the workers\' port', async (t) => {
  const { redis, serve } = await startWorkers(t, '2');
  const single = await runCli(t, ['serve', '--port', String(serve.port), '--host', '127.0.0.1', '--memory']);
  t.is(single.code, 1);
  t.regex(single.stderr, /^error: cannot listen on 127\.0\.0\.1:\d+: the port is in use/m);
  const second = await runCli(t, ['serve', '--port', String(serve.port), '--host', '127.0.0.1', '--workers', '2', '--redis', redis.url]);
  t.is(second.code, 1);
  t.is(second.stderr, `error: cannot listen on 127.0.0.1:${serve.port}: the port is in use; choose another --port\n`);
});

test('parseWorkers and workerArgs: auto is one per core; a worker runs serve without --workers', (t) => {
  t.is(parseWorkers('auto'), availableParallelism());
  t.is(parseWorkers('3'), 3);
  t.throws(() => parseWorkers('0'), { instanceOf: UsageError });
  t.deepEqual(workerArgs(['--port', '0', '--workers', '2', '--redis', 'redis://r:6379']), ['--port', '0', '--redis', 'redis://r:6379']);
  t.deepEqual(workerArgs(['--workers=auto', '--memory']), ['--memory']);
});

test('--redis comes from the flag, else REDIS_URL, and must be a redis:// or rediss:// URL', (t) => {
  t.is(serveOptions({}, { REDIS_URL: 'redis://cache:6379' }).redis, 'redis://cache:6379');
  t.is(serveOptions({ redis: 'rediss://user:pw@cache.example:6380/2' }, { REDIS_URL: 'redis://cache:6379' }).redis, 'rediss://user:pw@cache.example:6380/2');
  t.is(serveOptions({}, {}).redis, undefined);
  t.throws(() => serveOptions({}, { REDIS_URL: 'cache:6379' }), { instanceOf: UsageError, message: /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/ });
});
