/**
 * The cluster: relays on one Redis acting as one relay, and `serve --workers N` on one port.
 * Four set-ups, interleaved per round (A B C D A B C D …), each on a fresh Redis:
 *   1 relay    one `serve --redis`, a 1 → 100 fan-out at a fixed 20k deliveries/s
 *   3 relays   three on one Redis, the publisher on the first, the subscribers spread over all three
 *   workers 1  `serve --workers 1 --redis`, the same fan-out at max (closed loop)
 *   workers 2  `serve --workers 2 --redis` on this port, at max
 * Figures: relay CPU per delivery (all relay processes summed), Redis CPU per delivery, and
 * deliveries/s at max; ratios (3 ÷ 1 relays, 2 ÷ 1 workers) of the medians of one run.
 *
 * It needs the cluster: when two relays on one Redis do not see each other (a MSG sent on one
 * never reaches the other), or `serve --redis` refuses to start, it is skipped with that line.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Worker } from '../generator/pool.js';
import type { AgentSpec, ConnectReply, PublishReply } from '../generator/ipc.js';
import { machineCpu, cpuOf } from '../proc.js';
import { redisMissing, startBenchRedis, type BenchRedis } from '../redis-server.js';
import { median, minMax } from '../stats.js';
import { NO_ADDRESS_LIMITS, startTarget, type RunningTarget } from '../targets.js';
import { closeAgents, collect, creditAtMax, deliveryFailures, pacingFailures, stopCredit, waitFor, type Ctx } from './common.js';

const SUBSCRIBERS = 100;
const MEMBERS = SUBSCRIBERS + 1;
const FIXED_LOAD = 20_000;
const TICK_MS = 10;
const CONTENT_CHARS = 100;
/**
 * Flow control at max: MSGs in flight per sender. In a cluster a session may have 64 MSGs on
 * their way through Redis and 64 more waiting (then RATE_LIMITED), so the window stays under 128.
 */
const FLOW_WINDOW = 100;
/** How long the probe waits for a MSG to cross from one relay to the other. */
const PROBE_MS = 3000;

export type SetupId = 'relays-1' | 'relays-3' | 'workers-1' | 'workers-2';
const SETUPS: Array<{ id: SetupId; label: string; relays: number; workers: number }> = [
  { id: 'relays-1', label: '1 relay on Redis, 20k/s', relays: 1, workers: 0 },
  { id: 'relays-3', label: '3 relays on one Redis, 20k/s', relays: 3, workers: 0 },
  { id: 'workers-1', label: 'serve --workers 1, max', relays: 1, workers: 1 },
  { id: 'workers-2', label: 'serve --workers 2, max', relays: 1, workers: 2 },
];

export interface ClusterRun {
  setup: SetupId;
  rep: number;
  ok: boolean;
  failures: string[];
  deliveries: number;
  expected: number;
  deliveriesPerS: number;
  /** All relay processes together (workers, not their supervisor), µs CPU per delivery. */
  relayUsPerDelivery: number;
  redisUsPerDelivery: number;
  /** Cores busy during the window. */
  relayCores: number;
  redisCores: number;
  /** The generator workers: on 2 cores they compete with the relays at max. */
  genCores: number;
  otherCores: number;
  wallS: number;
}

export interface ClusterResult {
  skipped: string | null;
  runs: ClusterRun[];
  lines: string[];
}

export interface ClusterCtx extends Ctx {
  /** dist/cli.js */
  cli: string;
  reps: number;
  /** --relay-node-arg and --relay-arg of the bench run. */
  relayNodeArgs: string[];
  relayExtraArgs: string[];
}

/** The bench's agentchat target (bench/targets.ts) on a Redis, where its state then lives. */
function relayArgs(ctx: ClusterCtx, _dataDir: string, redisUrl: string): string[] {
  return ['--max-semi-space-size=2', ...ctx.relayNodeArgs, ctx.cli, 'serve', '--port', '0', '--host', '127.0.0.1',
    '--rate-per-sec', '1000000', '--rate-burst', '1000000', ...NO_ADDRESS_LIMITS, '--redis', redisUrl, ...ctx.relayExtraArgs];
}

const best = (pid: number): number => {
  const c = cpuOf(pid);
  return Number.isFinite(c.schedS) ? c.schedS : c.statS;
};

/** The supervisor's workers (its children), or the relay itself. */
function relayPids(t: RunningTarget, workers: number): number[] {
  if (workers === 0) return [t.pid];
  return readFileSync(`/proc/${t.pid}/task/${t.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

interface Started {
  redis: BenchRedis;
  relays: RunningTarget[];
  pids: number[];
  dataDirs: string[];
  stop(): Promise<void>;
}

async function startSetup(ctx: ClusterCtx, relays: number, workers: number): Promise<Started> {
  const redis = await startBenchRedis();
  const dataDirs: string[] = [];
  const started: RunningTarget[] = [];
  const stop = async () => {
    for (const r of started) await r.stop();
    await redis.stop();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < relays; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'agentchat-bench-cluster-'));
      dataDirs.push(dir);
      const args = relayArgs(ctx, dir, redis.url);
      if (workers > 0) args.push('--workers', String(workers));
      started.push(await startTarget({ id: 'agentchat', label: `cluster relay ${i + 1}`, args }));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { redis, relays: started, pids: started.flatMap((t) => relayPids(t, workers)), dataDirs, stop };
}

/** One agent on `url`, identified and in #general; frames after that go to `onFrame`. */
function probeAgent(url: string, name: string, onFrame: (f: Record<string, unknown>) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`probe agent on ${url}: no JOINED within ${PROBE_MS} ms`)), PROBE_MS);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'IDENTIFY', name })));
    let joined = false;
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Record<string, unknown>;
      if (f.type === 'WELCOME') ws.send(JSON.stringify({ type: 'JOIN', channel: '#general' }));
      else if (f.type === 'JOINED' && !joined) {
        joined = true;
        clearTimeout(timer);
        resolve(ws);
      } else if (joined) onFrame(f);
    });
  });
}

/** Null when a MSG sent on one relay reaches a member on another; else why the cluster is not there. */
async function probeCluster(ctx: ClusterCtx): Promise<string | null> {
  let setup: Started;
  try {
    setup = await startSetup(ctx, 2, 0);
  } catch (err) {
    return `serve --redis did not start: ${(err as Error).message}`;
  }
  const sockets: WebSocket[] = [];
  try {
    let crossed: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (crossed = resolve));
    const marker = `cluster-probe-${process.pid}`;
    sockets.push(await probeAgent(setup.relays[1].url, 'probe-b', (f) => f.type === 'MSG' && f.content === marker && crossed()));
    sockets.push(await probeAgent(setup.relays[0].url, 'probe-a', () => {}));
    sockets[1].send(JSON.stringify({ type: 'MSG', to: '#general', content: marker }));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), PROBE_MS)));
    const outcome = await Promise.race([arrived, late]);
    clearTimeout(timer);
    return outcome === 'late'
      ? `two relays on one Redis do not see each other (a MSG on one did not reach the other in ${PROBE_MS} ms): serve --redis is not available in this build yet`
      : null;
  } catch (err) {
    return `the probe failed: ${(err as Error).message}`;
  } finally {
    for (const s of sockets) s.terminate();
    await setup.stop();
  }
}

/** Connect requests per (generator worker, relay URL), all at once. */
async function connectSpread(groups: Array<{ worker: Worker; url: string; agents: AgentSpec[] }>): Promise<void> {
  const replies = await Promise.all(groups.filter((g) => g.agents.length > 0).map((g) => g.worker.request<ConnectReply>({ op: 'connect', url: g.url, concurrency: 50, agents: g.agents }, 300_000)));
  const bad = replies.find((r) => r.failed);
  if (bad) throw new Error(`connect: ${bad.failed} failed: ${bad.firstError}`);
}

/** One fan-out run on a started set-up: fixed load (offered > 0) or max (0). */
async function fanout(ctx: ClusterCtx, setup: Started, offered: number, durationMs: number): Promise<Omit<ClusterRun, 'setup' | 'rep'>> {
  const workers = ctx.pool.workers;
  const pubWorker = workers[0];
  const subWorkers = workers.length > 1 ? workers.slice(1) : workers;
  const hosting = [...new Set([pubWorker, ...subWorkers])];
  const tag = ctx.nextRun();
  const pubKey = `cp${tag}_0`;
  const prefixes = [`cp${tag}_`, `cs${tag}_`];
  const channel = `#c${tag}`;
  const urls = setup.relays.map((r) => r.url);
  try {
    await connectSpread([{ worker: pubWorker, url: urls[0], agents: [{ key: pubKey, name: `cpub${tag}`, channel }] }]);
    // Subscriber i on relay i mod R, in generator worker i mod W.
    const groups = new Map<string, { worker: Worker; url: string; agents: AgentSpec[] }>();
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const worker = subWorkers[i % subWorkers.length];
      const url = urls[i % urls.length];
      const key = `${worker.index}|${url}`;
      if (!groups.has(key)) groups.set(key, { worker, url, agents: [] });
      groups.get(key)!.agents.push({ key: `cs${tag}_${i}`, name: `csub${tag}_${i}`, channel, channelExists: true });
    }
    await connectSpread([...groups.values()]);

    const run = ctx.nextRun();
    const max = offered === 0;
    if (max) creditAtMax(hosting, pubWorker, run, FLOW_WINDOW);
    await ctx.pool.all({ op: 'arm', run, flow: max ? prefixes : undefined });
    const ratePerSender = max ? 0 : offered / MEMBERS;
    const maxPerSender = max ? 10_000_000 : Math.max(2, Math.round((ratePerSender * durationMs) / 1000));
    const cpu0 = setup.pids.reduce((s, pid) => s + best(pid), 0);
    const redis0 = best(setup.redis.pid);
    const machine0 = machineCpu();
    const gen0 = ctx.pool.pids.reduce((s, pid) => s + best(pid), 0);
    const t0 = process.hrtime.bigint();
    const pub = await pubWorker.request<PublishReply>({
      op: 'publish', run, kind: 'B', senders: [{ key: pubKey, to: channel, idx: 0 }],
      ratePerSender, maxPerSender, durationMs, size: CONTENT_CHARS, window: FLOW_WINDOW, tickMs: max ? 0 : TICK_MS,
    });
    const expected = pub.total * MEMBERS;
    await waitFor(workers, (c) => c.received >= expected);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const relayS = setup.pids.reduce((s, pid) => s + best(pid), 0) - cpu0;
    const redisS = best(setup.redis.pid) - redis0;
    const genS = ctx.pool.pids.reduce((s, pid) => s + best(pid), 0) - gen0;
    const machineCores = (machineCpu().busyS - machine0.busyS) / wallS;
    const m = await collect(workers);
    if (max) await stopCredit(ctx, hosting);
    const failures = [...deliveryFailures(m, expected), ...pacingFailures([pub])];
    return {
      ok: failures.length === 0,
      failures,
      deliveries: m.received,
      expected,
      deliveriesPerS: m.received / ((m.lastRecvNs - pub.firstNs) / 1e9),
      relayUsPerDelivery: (relayS / m.received) * 1e6,
      redisUsPerDelivery: (redisS / m.received) * 1e6,
      relayCores: relayS / wallS,
      redisCores: redisS / wallS,
      genCores: genS / wallS,
      otherCores: Math.max(0, machineCores - (relayS + redisS + genS) / wallS),
      wallS,
    };
  } finally {
    await closeAgents(ctx, null, prefixes);
  }
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

function report(runs: ClusterRun[], reps: number): string[] {
  const of = (id: SetupId) => runs.filter((r) => r.setup === id && r.ok);
  const med = (id: SetupId, f: keyof ClusterRun) => median(of(id).map((r) => r[f] as number));
  const lines = [
    '',
    `cluster (1 → ${SUBSCRIBERS} fan-out on Redis; medians of ${reps} interleaved rounds, min–max in brackets)`,
    '',
    '| set-up | deliveries/s | relay µs CPU / delivery | Redis µs CPU / delivery | relay cores | Redis cores | gen cores | other cores | failed runs |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of SETUPS) {
    const [lo, hi] = minMax(of(s.id).map((r) => r.relayUsPerDelivery));
    const failedRuns = runs.filter((r) => r.setup === s.id && !r.ok);
    lines.push(`| ${s.label} | ${fmt(med(s.id, 'deliveriesPerS'))} | ${fmt(med(s.id, 'relayUsPerDelivery'), 2)} (${fmt(lo, 2)}–${fmt(hi, 2)}) | ${fmt(med(s.id, 'redisUsPerDelivery'), 2)} | ${fmt(med(s.id, 'relayCores') * 100)}% | ${fmt(med(s.id, 'redisCores') * 100)}% | ${fmt(med(s.id, 'genCores') * 100)}% | ${fmt(med(s.id, 'otherCores') * 100)}% | ${failedRuns.length}${failedRuns.length ? `: ${failedRuns[0].failures.join('; ')}` : ''} |`);
  }
  lines.push(
    '',
    `3 relays ÷ 1 relay, relay CPU per delivery: ${fmt(med('relays-3', 'relayUsPerDelivery') / med('relays-1', 'relayUsPerDelivery'), 2)}`,
    `3 relays ÷ 1 relay, Redis CPU per delivery: ${fmt(med('relays-3', 'redisUsPerDelivery') / med('relays-1', 'redisUsPerDelivery'), 2)}`,
    `--workers 2 ÷ --workers 1, deliveries/s at max: ${fmt(med('workers-2', 'deliveriesPerS') / med('workers-1', 'deliveriesPerS'), 2)}`,
  );
  return lines;
}

export async function clusterScenario(ctx: ClusterCtx): Promise<ClusterResult> {
  const missing = redisMissing();
  const skipped = missing ?? (await probeCluster(ctx));
  if (skipped) {
    const line = `cluster: skipped — ${skipped}`;
    ctx.log(line);
    return { skipped, runs: [], lines: ['', line] };
  }
  const runs: ClusterRun[] = [];
  for (let rep = 1; rep <= ctx.reps; rep++) {
    for (const s of SETUPS) {
      const t0 = Date.now();
      let run: ClusterRun;
      try {
        const setup = await startSetup(ctx, s.relays, s.workers);
        try {
          await fanout(ctx, setup, s.workers > 0 ? 0 : FIXED_LOAD, ctx.warmMs); // warm-up, not recorded
          run = { setup: s.id, rep, ...(await fanout(ctx, setup, s.workers > 0 ? 0 : FIXED_LOAD, ctx.measureMs)) };
        } finally {
          await setup.stop();
        }
      } catch (err) {
        run = {
          setup: s.id, rep, ok: false, failures: [(err as Error).message], deliveries: 0, expected: 0, deliveriesPerS: NaN,
          relayUsPerDelivery: NaN, redisUsPerDelivery: NaN, relayCores: NaN, redisCores: NaN, genCores: NaN, otherCores: NaN, wallS: 0,
        };
      }
      runs.push(run);
      ctx.log(`[${rep}/${ctx.reps}] cluster      ${s.id.padEnd(12)} ${((Date.now() - t0) / 1000).toFixed(1)}s${run.ok ? '' : `  FAILED: ${run.failures.join('; ')}`}`);
    }
  }
  return { skipped: null, runs, lines: report(runs, ctx.reps) };
}
