/**
 * Joins: N agents JOIN one fresh channel all at once, for N from 250 to 2,000. Broadcasting
 * presence makes this O(N²) (N + N(N−1)/2 AGENT_JOINED) on a relay that tells each join to every
 * member; a relay that batches presence on large channels (agentchat, above presenceBatchAbove
 * members) bends the curve. The figure is relay ms CPU for all N joins; the report fits the
 * scaling exponent (log CPU against log N) per relay.
 */
import { waitQuiet } from '../measure.js';
import type { RunningTarget } from '../targets.js';
import {
  closeAgents, collect, connectAll, deliveryFailures, endWindow, measurement, spread, startWindow, waitFor,
  type Ctx, type Measurement, type Prepared, type Scenario,
} from './common.js';

export const JOINS_ID = 'joins';

export function joinsScenario(sizes: number[]): Scenario {
  return {
    id: JOINS_ID,
    title: 'N agents join one channel',
    metricName: 'relay ms CPU',
    lowerIsBetter: true,
    variants: sizes.map((n) => `${n} joins`),
    // The ws baseline needs minutes at 2,000 (its JS loop sends 2M frames): the exponent compares agentchat with bare uWS.
    appliesTo: (t) => t === 'agentchat' || t === 'bare-uws',
    prepare: async (ctx, target): Promise<Prepared> => ({
      measurements: [],
      run: (variant) => joins(ctx, target, Number.parseInt(variant, 10)),
      teardown: async () => {},
    }),
  };
}

async function joins(ctx: Ctx, target: RunningTarget, n: number): Promise<Measurement> {
  const workers = ctx.pool.workers;
  const tag = ctx.nextRun();
  const prefix = `j${tag}_`;
  const channel = `#j${n}x${tag}`;
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const parts = spread(keys, workers.length);
  try {
    // The first agent creates the channel; the others only connect for now.
    await connectAll(workers, target.url, parts.map((p, wi) => p.map((key, i) => ({ key, name: `joiner${key.slice(1)}`, ...(wi === 0 && i === 0 ? { channel } : {}) }))), 50, 'joiners connect');
    await waitQuiet(target.pid, 2000);
    await ctx.pool.all({ op: 'arm', run: ctx.nextRun() });
    // Joiner k (1..n-1) is told to the k members already there.
    const expected = (n * (n - 1)) / 2;
    const w0 = startWindow(ctx, target);
    const replies = await Promise.all(
      workers.map((w, wi) => w.request<{ failed: number; firstError: string }>(
        { op: 'join', existing: true, concurrency: 1000, joins: parts[wi].filter((k) => k !== keys[0]).map((k) => [k, channel]) }, 300_000)),
    );
    // Batched presence cannot reach `expected`: the wait then ends when nothing moved for a while.
    await waitFor(workers, (c) => c.joined >= n - 1 && c.agentJoined >= expected, 1000);
    const win = endWindow(ctx, target, w0);
    const m = await collect(workers);
    const failures = m.presenceBatches > 0 ? deliveryFailures(m, m.agentJoined, m.agentJoined) : deliveryFailures(m, expected, m.agentJoined);
    const bad = replies.find((r) => r.failed);
    if (bad) failures.push(`JOIN: ${bad.failed} failed: ${bad.firstError}`);
    if (m.joined !== n - 1) failures.push(`JOINED ${m.joined} of ${n - 1}`);
    return measurement(
      { scenario: JOINS_ID, variant: `${n} joins`, target: target.def.id, rep: ctx.rep },
      {
        metric: win.relayCpuS * 1000, units: m.joined, expected: n - 1, window: win, failures,
        ratePerS: m.joined / win.wallS,
        extra: { members: n, agentJoinedNotices: m.agentJoined, presenceBatches: m.presenceBatches },
      },
    );
  } finally {
    await closeAgents(ctx, target, [prefix]);
  }
}

/** Least-squares slope of log(ms) against log(N): the scaling exponent (2 = quadratic). */
export function scalingExponent(points: Array<[n: number, ms: number]>): number {
  const pts = points.filter(([n, ms]) => n > 0 && ms > 0 && Number.isFinite(ms));
  if (pts.length < 2) return NaN;
  const xs = pts.map(([n]) => Math.log(n));
  const ys = pts.map(([, ms]) => Math.log(ms));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}
