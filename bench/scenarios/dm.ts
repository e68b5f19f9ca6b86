/**
 * Direct messages: ping-pong pairs. A sends a DM to B, B answers with a DM to A, A measures the
 * round trip with its own clock. Paced at a fixed rate per pair (one ping in flight per pair), so
 * every relay gets the same offered load. A DM is one MSG frame relayed (target + echo to sender).
 */
import type { PingReply } from '../generator/ipc.js';
import { waitQuiet } from '../measure.js';
import type { RunningTarget } from '../targets.js';
import {
  GENERATOR, closeAgents, collect, connectAll, deliveryFailures, endWindow, measurement, pacingFailures, startWindow, waitFor,
  type Ctx, type Measurement, type Prepared, type Scenario,
} from './common.js';

const PAIRS = 20;
const CONTENT_CHARS = 100;

export function dmScenario(ratePerPair: number): Scenario {
  return {
    id: 'dm',
    title: `DM ping-pong ${PAIRS} pairs`,
    metricName: 'relay µs CPU / DM',
    lowerIsBetter: true,
    variants: [`${PAIRS * ratePerPair} rt/s`, 'max'],
    appliesTo: () => true,
    prepare: (ctx, target) => prepareDm(ctx, target, ratePerPair),
  };
}

async function prepareDm(ctx: Ctx, target: RunningTarget, pacedRatePerPair: number): Promise<Prepared> {
  const workers = ctx.pool.workers;
  const G = workers.length;
  const tag = ctx.nextRun();
  const prefixes = [`a${tag}_`, `b${tag}_`];
  // A_i in worker i % G, B_i in the next worker: every round trip crosses processes.
  const aWorker = (i: number): number => i % G;
  const bWorker = (i: number): number => (i + 1) % G;
  const parts = workers.map((_, wi) => {
    const agents = [];
    for (let i = 0; i < PAIRS; i++) {
      if (aWorker(i) === wi) agents.push({ key: `a${tag}_${i}`, name: `pinger${i}` });
      if (bWorker(i) === wi) agents.push({ key: `b${tag}_${i}`, name: `ponger${i}` });
    }
    return agents;
  });
  let ids: Record<string, string> = {};

  /** ratePerPair 0: closed loop, each pair pings again as soon as its pong arrives. */
  const one = async (ratePerPair: number, durationMs: number): Promise<Measurement> => {
    const run = ctx.nextRun();
    await ctx.pool.all({ op: 'arm', run });
    const w0 = startWindow(ctx, target);
    const res = await Promise.all(
      workers.map((w, wi) =>
        w.request<PingReply>({
          op: 'ping', run, ratePerPair, durationMs, size: CONTENT_CHARS,
          pairs: Array.from({ length: PAIRS }, (_, i) => i)
            .filter((i) => aWorker(i) === wi)
            .map((i) => ({ key: `a${tag}_${i}`, peer: ids[`b${tag}_${i}`], idx: i })),
        }),
      ),
    );
    const pings = res.reduce((a, r) => a + r.pings, 0);
    // Echoes: every ping and every pong comes back to its sender too.
    await waitFor(workers, (c) => c.pingsSeen >= pings && c.echoes >= 2 * pings);
    const win = endWindow(ctx, target, w0);
    const m = await collect(workers);
    const failures = deliveryFailures(m, pings);
    if (m.pingsSeen !== pings) failures.push(`pings delivered ${m.pingsSeen} of ${pings}`);
    if (m.echoes !== pings + m.pingsSeen) failures.push(`echoes ${m.echoes} of ${pings + m.pingsSeen}`);
    const withPings = res.filter((r) => r.pings > 0);
    const firstNs = Math.min(...withPings.map((r) => r.firstNs));
    const lastNs = Math.max(...withPings.map((r) => r.lastNs));
    const scheduled = res.reduce((a, r) => a + r.expected, 0);
    const offered = PAIRS * ratePerPair;
    if (pings < scheduled) failures.push(`${GENERATOR}sent ${pings} of ${scheduled} scheduled pings (round trips slower than the pace)`);
    failures.push(...pacingFailures([{ total: pings, expected: scheduled, rate: offered, firstNs, lastNs }]));
    const dms = pings + m.pingsSeen;
    return measurement(
      { scenario: 'dm', variant: offered ? `${offered} rt/s` : 'max', target: target.def.id, rep: ctx.rep },
      {
        metric: (win.relayCpuS / dms) * 1e6, units: dms, expected: 2 * pings, window: win, failures,
        ratePerS: dms / ((lastNs - firstNs) / 1e9), offeredPerS: offered ? 2 * offered : null,
        p50Us: m.hist.percentile(50), p99Us: m.hist.percentile(99),
        extra: { pings, pongs: m.received, echoes: m.echoes },
      },
    );
  };

  try {
    ids = await connectAll(workers, target.url, parts, 50, 'dm setup');
    await waitQuiet(target.pid, 2000);
    await one(pacedRatePerPair, ctx.warmMs); // warm-up, not recorded
  } catch (err) {
    await closeAgents(ctx, target, prefixes);
    throw err;
  }
  return {
    measurements: [],
    run: (variant) => one(variant === 'max' ? 0 : pacedRatePerPair, ctx.measureMs),
    teardown: () => closeAgents(ctx, target, prefixes),
  };
}
