/** What every scenario shares: the context it runs in, its result row, and the drain/verify steps. */
import type { Pool, Worker } from '../generator/pool.js';
import type { AgentSpec, ConnectReply, Counts, ProgressEvent, PublishReply, RunReport } from '../generator/ipc.js';
import { snap, sleep, waitQuiet, windowOf, type Snap, type Window } from '../measure.js';
import { Histogram } from '../stats.js';
import type { RunningTarget, TargetId } from '../targets.js';

export interface Ctx {
  pool: Pool;
  quick: boolean;
  /** Length of a measured phase, and of the unrecorded warm-up before a scenario's first one. */
  measureMs: number;
  warmMs: number;
  rep: number;
  /** A fresh run id: tags message content so a late frame from an earlier run is never counted. */
  nextRun(): number;
  log(line: string): void;
}

export interface Measurement {
  scenario: string;
  variant: string;
  target: TargetId;
  rep: number;
  ok: boolean;
  failures: string[];
  /** The row's headline figure; `metricName` says what it is and `lowerIsBetter` which way is good. */
  metric: number;
  /** Verified deliveries / messages / setups behind the figure. */
  units: number;
  expected: number;
  /** Achieved units per second over the active phase. */
  ratePerS: number;
  offeredPerS: number | null;
  p50Us: number | null;
  p99Us: number | null;
  window: Window;
  extra: Record<string, number | string>;
}

/** A scenario made ready against one relay: its measured phases can then interleave with other relays'. */
export interface Prepared {
  /** Figures measured while preparing (e.g. joining the channel). */
  measurements: Measurement[];
  run(variant: string): Promise<Measurement>;
  teardown(): Promise<void>;
}

export interface Scenario {
  id: string;
  title: string;
  metricName: string;
  lowerIsBetter: boolean;
  /**
   * Measured phases. With more than one, the runner prepares every relay first and runs each
   * phase on A, B, C in turn, so the figures it compares are seconds apart, not a scenario apart.
   * None: everything is measured while preparing.
   */
  variants: string[];
  appliesTo(target: TargetId): boolean;
  prepare(ctx: Ctx, target: RunningTarget): Promise<Prepared>;
}

/** Failures that say the generator could not offer the load (the run measured the generator). */
export const GENERATOR = 'generator: ';
export const generatorOnly = (m: Measurement): boolean => m.failures.length > 0 && m.failures.every((f) => f.startsWith(GENERATOR));

export function startWindow(ctx: Ctx, target: RunningTarget): Snap {
  return snap(target.pid, ctx.pool.pids);
}

export function endWindow(ctx: Ctx, target: RunningTarget, from: Snap): Window {
  return windowOf(from, snap(target.pid, ctx.pool.pids));
}

/**
 * Poll the workers until `done(total)` holds, or nothing has moved for `stallMs` (a loss: the
 * caller reports what arrived). Cheap counters only; the full report is collected once at the end.
 */
export async function waitFor(
  workers: Worker[],
  done: (c: Counts) => boolean,
  stallMs = 2000,
  maxMs = 60_000,
): Promise<Counts> {
  const t0 = Date.now();
  let lastProgress = Date.now();
  let lastKey = '';
  for (;;) {
    const parts = await Promise.all(workers.map((w) => w.request<Counts>({ op: 'count' })));
    const total = sumCounts(parts);
    if (done(total)) return total;
    const key = `${total.received}/${total.agentJoined}/${total.joined}/${total.echoes}/${total.pingsSeen}/${total.closes}`;
    if (key !== lastKey) {
      lastKey = key;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > stallMs || Date.now() - t0 > maxMs) {
      return total;
    }
    await sleep(10);
  }
}

/** The counters every worker report carries, summed across workers. */
const COUNTERS = ['received', 'agentJoined', 'presenceBatches', 'joined', 'echoes', 'pingsSeen', 'closes', 'errors'] as const;

function addCounters(into: Pick<Counts, (typeof COUNTERS)[number]>, from: Counts): void {
  for (const key of COUNTERS) into[key] += from[key];
}

export function sumCounts(parts: Counts[]): Counts {
  const t: Counts = { run: parts[0]?.run ?? 0, received: 0, agentJoined: 0, presenceBatches: 0, joined: 0, echoes: 0, pingsSeen: 0, closes: 0, errors: 0 };
  for (const p of parts) addCounters(t, p);
  return t;
}

export interface Merged {
  received: number;
  agentJoined: number;
  presenceBatches: number;
  joined: number;
  echoes: number;
  pingsSeen: number;
  orderErrors: number;
  stray: number;
  replay: number;
  closes: number;
  errors: number;
  errorCodes: Record<string, number>;
  closeCodes: Record<string, number>;
  firstError: string;
  lastRecvNs: number;
  hist: Histogram;
}

export async function collect(workers: Worker[]): Promise<Merged> {
  const reports = await Promise.all(workers.map((w) => w.request<RunReport>({ op: 'collect' })));
  const m: Merged = {
    received: 0, agentJoined: 0, presenceBatches: 0, joined: 0, echoes: 0, pingsSeen: 0, orderErrors: 0, stray: 0, replay: 0,
    closes: 0, errors: 0, errorCodes: {}, closeCodes: {}, firstError: '', lastRecvNs: 0, hist: new Histogram(),
  };
  for (const r of reports) {
    addCounters(m, r);
    m.orderErrors += r.orderErrors;
    m.stray += r.stray;
    m.replay += r.replay;
    for (const [k, v] of Object.entries(r.errorCodes)) m.errorCodes[k] = (m.errorCodes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.closeCodes)) m.closeCodes[k] = (m.closeCodes[k] ?? 0) + v;
    if (!m.firstError && r.firstError) m.firstError = r.firstError;
    m.lastRecvNs = Math.max(m.lastRecvNs, r.lastRecvNs);
    m.hist.addSparse(r.hist);
  }
  return m;
}

/** The failures every scenario checks: losses, reordering, relay ERRORs, relay-closed sockets. */
export function deliveryFailures(m: Merged, expected: number, received = m.received): string[] {
  const f: string[] = [];
  if (received !== expected) f.push(`received ${received} of ${expected} expected`);
  if (m.orderErrors) f.push(`${m.orderErrors} out of order or duplicated`);
  if (m.errors) f.push(`relay ERRORs ${JSON.stringify(m.errorCodes)} (${m.firstError})`);
  if (m.closes) f.push(`relay closed ${m.closes} sockets ${JSON.stringify(m.closeCodes)}`);
  return f;
}

export function measurement(
  base: Pick<Measurement, 'scenario' | 'variant' | 'target' | 'rep'>,
  fields: Partial<Measurement> & Pick<Measurement, 'metric' | 'units' | 'expected' | 'window'>,
): Measurement {
  const failures = fields.failures ?? [];
  return {
    ...base,
    ok: failures.length === 0,
    failures,
    ratePerS: NaN,
    offeredPerS: null,
    p50Us: null,
    p99Us: null,
    extra: {},
    ...fields,
  };
}

export function failed(base: Pick<Measurement, 'scenario' | 'variant' | 'target' | 'rep'>, why: string): Measurement {
  return measurement(base, {
    metric: NaN,
    units: 0,
    expected: 0,
    failures: [why],
    window: { wallS: 0, relayCpuS: NaN, relayCpuStatS: NaN, genCpuS: NaN, benchCpuS: NaN, machineBusyCores: NaN, otherCores: NaN },
  });
}

/** Split items round-robin over n buckets. */
export function spread<T>(items: T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((it, i) => out[i % n].push(it));
  return out;
}

/** Close agents (those whose keys start with `prefixes`, or all) and wait for the relay to settle. */
export async function closeAgents(ctx: Ctx, target: RunningTarget | null, prefixes?: string[]): Promise<void> {
  await ctx.pool.all({ op: 'close', prefixes }, 60_000);
  if (target?.alive()) await waitQuiet(target.pid);
}

export async function connectAll(workers: Worker[], url: string, parts: AgentSpec[][], concurrency: number, what: string): Promise<Record<string, string>> {
  const replies = await Promise.all(
    workers.map((w, i) => (parts[i]?.length ? w.request<ConnectReply>({ op: 'connect', url, concurrency, agents: parts[i] }, 300_000) : null)),
  );
  const ids: Record<string, string> = {};
  for (const r of replies) {
    if (!r) continue;
    if (r.failed) throw new Error(`${what}: ${r.failed} failed: ${r.firstError}`);
    Object.assign(ids, r.ids);
  }
  return ids;
}

/**
 * Did the generator offer what it was asked to? Every scheduled message sent, at no less than 90%
 * of the scheduled rate (a busy machine can stall a publisher). A row that fails this measured
 * the generator, not the relay; the runner retries it once.
 */
export function pacingFailures(pubs: Array<Pick<PublishReply, 'total' | 'expected' | 'rate' | 'firstNs' | 'lastNs'>>): string[] {
  const f: string[] = [];
  for (const p of pubs) {
    if (p.expected === 0) continue;
    if (p.total < p.expected) f.push(`${GENERATOR}sent ${p.total} of ${p.expected} scheduled messages`);
    const span = (p.lastNs - p.firstNs) / 1e9;
    const achieved = span > 0 ? (p.total - 1) / span : Infinity;
    if (p.total > 1 && achieved < 0.9 * p.rate) {
      f.push(`${GENERATOR}could not sustain the load: ${achieved.toFixed(0)} of ${p.rate.toFixed(0)} msgs/s`);
    }
  }
  return f;
}

/**
 * Flow control at max: the publisher may stay `window` messages ahead of the slowest member,
 * as the hosting workers report their progress for `run`. Ended by `stopCredit`.
 */
export function creditAtMax(hosting: readonly Worker[], publisher: Worker, run: number, window: number): void {
  const mins = new Map<number, number>();
  let allowed = window;
  for (const w of hosting) {
    w.onProgress = (e: ProgressEvent) => {
      if (e.run !== run) return;
      mins.set(w.index, e.min);
      if (mins.size < hosting.length) return;
      const next = Math.min(...mins.values()) + window;
      if (next > allowed) {
        allowed = next;
        publisher.tell({ op: 'credit', allowed });
      }
    };
  }
}

/** Stop the progress events of a max run (after collect: arming resets the counters). */
export async function stopCredit(ctx: Ctx, hosting: readonly Worker[]): Promise<void> {
  await ctx.pool.all({ op: 'arm', run: ctx.nextRun() });
  for (const w of hosting) w.onProgress = null;
}
