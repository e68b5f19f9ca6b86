/**
 * Connections: N idle identified agents, each connect + IDENTIFY + JOIN (channels of 10, so the
 * join notifications stay small). Relay RSS per connection is the VmRSS delta over the relay
 * just before (warmed with a few connections, then idle); setups per relay CPU-second over the
 * connect phase. The memory figure includes the relay's heap slack, which weighs less the more
 * connections there are: the full run uses 10,000.
 */
import { sessionsWithin } from '../../kernel/fd-limit.js';
import type { AgentSpec } from '../generator/ipc.js';
import { sleep, waitQuiet } from '../measure.js';
import { rssOf } from '../proc.js';
import type { RunningTarget } from '../targets.js';
import { closeAgents, collect, connectAll, endWindow, measurement, startWindow, type Ctx, type Measurement, type Scenario } from './common.js';

const GROUP = 10;

export function connectionsScenario(steps: readonly number[]): Scenario {
  return {
    id: 'idle',
    title: 'idle identified connections',
    metricName: 'relay bytes RSS / connection',
    lowerIsBetter: true,
    variants: [], // one phase, measured while preparing: nothing to interleave
    appliesTo: () => true,
    prepare: async (ctx, target) => ({
      measurements: await runConnections(ctx, target, steps),
      run: () => Promise.reject(new Error('idle has no variants')),
      teardown: async () => {},
    }),
  };
}

export const setupScenarioInfo = {
  id: 'setup',
  title: 'connect+IDENTIFY+JOIN',
  metricName: 'setups / relay CPU-second',
  lowerIsBetter: false,
};

/** Bytes each connection added between two steps: what a relay pays per extra agent once it is large. */
export const marginalScenarioInfo = {
  id: 'idle-marginal',
  title: 'idle connections, per extra one',
  metricName: 'relay bytes RSS / extra connection',
  lowerIsBetter: true,
};

/**
 * The most connections a step may hold: what agentchat admits within the shell's descriptor
 * limit (`ulimit -n`, inherited by every relay under test; 20,000 here, and no raising it):
 * it keeps a tenth of its descriptors in reserve, so 17,936 sessions at 20,000.
 */
export function connectionSteps(quick: boolean, nofile: number): number[] {
  const top = Math.floor(sessionsWithin(nofile) / 500) * 500;
  return (quick ? [1000] : [1000, 10_000, 20_000]).map((n) => Math.min(n, top)).filter((n, i, all) => n > 0 && all.indexOf(n) === i);
}

function specsFor(prefix: string, n: number, G: number): AgentSpec[][] {
  const parts: AgentSpec[][] = Array.from({ length: G }, () => []);
  for (let i = 0; i < n; i++) {
    const group = Math.floor(i / GROUP);
    // A whole group lives in one worker: its first agent creates the channel, the rest join.
    parts[group % G].push({ key: `${prefix}_${i}`, name: `idle${i}`, channel: `#${prefix}g${group}` });
  }
  return parts;
}

/**
 * Connects in steps on one relay (1,000, then up to 10,000, then up to ~20,000), measuring RSS
 * after each: per connection at each total, and per extra connection between the last two steps.
 */
async function runConnections(ctx: Ctx, target: RunningTarget, steps: readonly number[]): Promise<Measurement[]> {
  const workers = ctx.pool.workers;
  const G = workers.length;
  const warmTag = ctx.nextRun();
  const tag = ctx.nextRun();
  const prefixes = [`w${warmTag}_`, ...steps.map((_, i) => `i${tag}s${i}_`)];
  const out: Measurement[] = [];
  try {
    // Warm the relay's connect path, then let it settle: the baseline is a used, idle relay.
    await connectAll(workers, target.url, specsFor(`w${warmTag}`, 30, G), 10, 'warm-up connect');
    await closeAgents(ctx, target, prefixes);
    await sleep(ctx.quick ? 150 : 500);
    const rss0 = rssOf(target.pid);
    let before = { n: 0, rss: rss0 };
    for (let i = 0; i < steps.length; i++) {
      const n = steps[i];
      const add = n - before.n;
      await ctx.pool.all({ op: 'arm', run: tag });
      const w0 = startWindow(ctx, target);
      let setupError = '';
      const ids = await connectAll(workers, target.url, specsFor(`i${tag}s${i}`, add, G), 64, 'idle connect').catch((err: Error) => {
        setupError = err.message;
        return {};
      });
      const win = endWindow(ctx, target, w0);
      const connected = Object.keys(ids).length;
      await waitQuiet(target.pid, 3000);
      await sleep(ctx.quick ? 300 : 1000);
      const rss1 = rssOf(target.pid);
      const m = await collect(workers);
      const failures: string[] = [];
      if (setupError) failures.push(setupError);
      if (m.joined !== add) failures.push(`JOINED ${m.joined} of ${add}`);
      if (m.errors) failures.push(`relay ERRORs ${JSON.stringify(m.errorCodes)} (${m.firstError})`);
      if (m.closes) failures.push(`relay closed ${m.closes} sockets`);
      const base = { target: target.def.id, rep: ctx.rep, variant: `${n.toLocaleString('en-US')} conns` };
      out.push(
        measurement(
          { ...base, scenario: 'idle' },
          { metric: (rss1 - rss0) / n, units: n, expected: n, window: win, failures, extra: { rssBeforeBytes: rss0, rssAfterBytes: rss1 } },
        ),
        measurement(
          { ...base, scenario: 'setup' },
          { metric: connected / win.relayCpuS, units: connected, expected: add, window: win, failures, ratePerS: connected / win.wallS },
        ),
      );
      if (i === steps.length - 1 && i > 0) {
        out.push(measurement(
          { target: target.def.id, rep: ctx.rep, variant: `${before.n.toLocaleString('en-US')} → ${n.toLocaleString('en-US')}`, scenario: 'idle-marginal' },
          { metric: (rss1 - before.rss) / add, units: add, expected: add, window: win, failures, extra: { rssBeforeBytes: before.rss, rssAfterBytes: rss1 } },
        ));
      }
      before = { n, rss: rss1 };
    }
    return out;
  } finally {
    await closeAgents(ctx, target, prefixes);
  }
}
