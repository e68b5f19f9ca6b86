/**
 * Fan-out: 1 publisher → N subscribers in one channel, at fixed offered loads and at the maximum
 * the whole loop sustains. A delivery is one MSG frame received by one channel member (the
 * publisher's own echo included: members = N + 1). Preparing with N = 1,000 also measures
 * joining a 1,000-member channel.
 */
import type { PublishReply } from '../generator/ipc.js';
import { waitQuiet } from '../measure.js';
import type { RunningTarget } from '../targets.js';
import {
  closeAgents, collect, connectAll, creditAtMax, deliveryFailures, endWindow, measurement, pacingFailures, spread, startWindow, stopCredit, waitFor,
  type Ctx, type Measurement, type Prepared, type Scenario,
} from './common.js';

const CONTENT_CHARS = 100;

export interface FanoutOptions {
  subscribers: number;
  /** Fixed offered loads, deliveries per second, sent in 10 ms ticks. */
  loads: number[];
  /** One more fixed load, evenly paced: one message at a time, nothing for the relay to batch. */
  pacedLoad: number;
  measureJoin: boolean;
  /**
   * Raw-TCP clients (generator/raw.ts): deliveries counted by frame headers, cheap enough that
   * the relay saturates first. At max, one pre-built frame and counts only; at fixed loads each
   * delivery's sequence and send time are read from its content's digits, so order and latency
   * are checked by receivers whose reading of a burst is not the latency they measure.
   */
  raw?: boolean;
}

const TICK_MS = 10;

interface Load {
  variant: string;
  /** Deliveries per second; 0 = max (flow control). */
  offered: number;
  tickMs: number;
}

const idOf = (o: FanoutOptions): string => `fanout-${o.subscribers}${o.raw ? '-raw' : ''}`;

export function fanoutScenario(o: FanoutOptions): Scenario {
  return {
    id: idOf(o),
    title: `fan-out 1 → ${o.subscribers.toLocaleString('en-US')}${o.raw ? ' (raw TCP generator)' : ''}`,
    metricName: 'relay µs CPU / delivery',
    lowerIsBetter: true,
    variants: loadsOf(o).map((l) => l.variant),
    appliesTo: () => true,
    prepare: (ctx, target) => prepareFanout(ctx, target, o),
  };
}

export const joinScenarioInfo = {
  id: 'join-1000',
  title: 'join 1,000-member channel',
  metricName: 'relay ms CPU',
  lowerIsBetter: true,
};

function loadsOf(o: FanoutOptions): Load[] {
  const paced = o.pacedLoad > 0 ? [{ variant: `${o.pacedLoad / 1000}k/s paced`, offered: o.pacedLoad, tickMs: 0 }] : [];
  if (o.raw) {
    return [...o.loads.map((offered) => ({ variant: `${offered / 1000}k/s`, offered, tickMs: TICK_MS })), ...paced, { variant: 'max', offered: 0, tickMs: 0 }];
  }
  return [
    ...o.loads.map((offered) => ({ variant: `${offered / 1000}k/s`, offered, tickMs: TICK_MS })),
    ...paced,
    { variant: 'max', offered: 0, tickMs: 0 },
  ];
}

async function prepareFanout(ctx: Ctx, target: RunningTarget, o: FanoutOptions): Promise<Prepared> {
  const workers = ctx.pool.workers;
  const pubWorker = workers[0];
  const subWorkers = workers.length > 1 ? workers.slice(1) : workers;
  const hosting = [...new Set([pubWorker, ...subWorkers])];
  const tag = ctx.nextRun();
  const pubKey = `p${tag}_0`;
  const prefixes = [`p${tag}_`, `s${tag}_`];
  const channel = `#f${o.subscribers}x${tag}`;
  const members = o.subscribers + 1;
  const measureMs = ctx.measureMs;
  const warmMs = ctx.warmMs;
  const out: Measurement[] = [];
  const base = { target: target.def.id, rep: ctx.rep };

  const load = async ({ variant, offered, tickMs }: Load, durationMs: number): Promise<Measurement> => {
    const max = offered === 0;
    const raw = o.raw === true;
    // Raw receivers read sequence and send time at fixed loads; at max they only count.
    const rawTimed = raw && !max;
    const timed = !raw || rawTimed;
    const run = ctx.nextRun();
    // Flow control at max: the publisher stays at most `window` messages ahead of the slowest
    // member (25k frames in flight at most), so no relay buffer nears the 1 MiB slow-consumer limit.
    const window = Math.max(10, Math.min(250, Math.round(25_000 / o.subscribers)));
    if (max) creditAtMax(hosting, pubWorker, run, window);
    await ctx.pool.all({ op: 'arm', run, flow: max ? prefixes : undefined, count: raw, timed: rawTimed });
    const ratePerSender = max ? 0 : offered / members;
    const maxPerSender = max ? 10_000_000 : Math.max(2, Math.round((ratePerSender * durationMs) / 1000));
    const w0 = startWindow(ctx, target);
    const pub = await pubWorker.request<PublishReply>({
      op: 'publish', run, kind: 'B', senders: [{ key: pubKey, to: channel, idx: 0 }],
      ratePerSender, maxPerSender, durationMs, size: CONTENT_CHARS, window, tickMs, timed: rawTimed,
    });
    const expected = pub.total * members;
    await waitFor(workers, (c) => c.received >= expected);
    const win = endWindow(ctx, target, w0);
    const m = await collect(workers);
    if (max) await stopCredit(ctx, hosting);
    const failures = [...deliveryFailures(m, expected), ...pacingFailures([pub])];
    return measurement(
      { ...base, scenario: idOf(o), variant },
      {
        metric: (win.relayCpuS / m.received) * 1e6,
        units: m.received,
        expected,
        window: win,
        failures,
        // Untimed raw clients keep no receive times: their rate is over the window.
        ratePerS: timed ? m.received / ((m.lastRecvNs - pub.firstNs) / 1e9) : m.received / win.wallS,
        offeredPerS: max ? null : offered,
        p50Us: timed ? m.hist.percentile(50) : null,
        p99Us: timed ? m.hist.percentile(99) : null,
        extra: { messagesSent: pub.total, members, stray: m.stray, replaySkipped: m.replay, flowWindow: max ? window : 0, tickMs },
      },
    );
  };

  try {
    const raw = o.raw === true;
    await connectAll([pubWorker], target.url, [[{ key: pubKey, name: `pub${tag}`, channel, raw }]], 1, 'publisher setup');
    const subKeys = Array.from({ length: o.subscribers }, (_, i) => `s${tag}_${i}`);
    const parts = spread(subKeys, subWorkers.length);
    await connectAll(subWorkers, target.url, parts.map((p) => p.map((key) => ({ key, name: `sub${key.slice(1)}`, raw }))), 50, 'subscriber connect');

    // Joins: all N at once. Every join tells the members already there: N + N(N-1)/2 AGENT_JOINED.
    await ctx.pool.all({ op: 'arm', run: ctx.nextRun() });
    const expectedAgentJoined = o.subscribers + (o.subscribers * (o.subscribers - 1)) / 2;
    const w0 = startWindow(ctx, target);
    const joins = await Promise.all(
      subWorkers.map((w, i) =>
        w.request<{ failed: number; firstError: string }>({ op: 'join', existing: true, concurrency: 1000, joins: parts[i].map((k) => [k, channel]) }, 300_000),
      ),
    );
    const jc = await waitFor(workers, (c) => c.joined >= o.subscribers && c.agentJoined >= expectedAgentJoined);
    const jw = endWindow(ctx, target, w0);
    const joinFail = joins.find((j) => j.failed);
    if (joinFail) throw new Error(`JOIN: ${joinFail.failed} failed: ${joinFail.firstError}`);
    if (o.measureJoin) {
      const m = await collect(workers);
      // A relay that batches presence on large channels announces agents in lists whose sizes
      // depend on timing: then the check is that every JOIN was answered and nothing failed.
      const failures = m.presenceBatches > 0 ? deliveryFailures(m, m.agentJoined, m.agentJoined) : deliveryFailures(m, expectedAgentJoined, m.agentJoined);
      if (m.joined !== o.subscribers) failures.push(`JOINED ${m.joined} of ${o.subscribers}`);
      out.push(
        measurement(
          { ...base, scenario: 'join-1000', variant: `${o.subscribers} joins` },
          {
            metric: jw.relayCpuS * 1000, units: jc.joined, expected: o.subscribers, window: jw, failures,
            ratePerS: jc.joined / jw.wallS,
            extra: { agentJoinedDelivered: m.agentJoined, agentJoinedExpected: expectedAgentJoined, presenceBatches: m.presenceBatches },
          },
        ),
      );
    }
    await waitQuiet(target.pid, 2000);
    await load(loadsOf(o)[0], warmMs); // warm-up, not recorded
  } catch (err) {
    await closeAgents(ctx, target, prefixes);
    throw err;
  }
  return {
    measurements: out,
    run: (variant) => {
      const l = loadsOf(o).find((x) => x.variant === variant);
      if (!l) throw new Error(`unknown variant ${variant}`);
      return load(l, measureMs);
    },
    teardown: () => closeAgents(ctx, target, prefixes),
  };
}
