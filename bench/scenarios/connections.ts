/**
 * Connections: N idle identified agents, each connect + IDENTIFY + JOIN (channels of 10, so the
 * join notifications stay small). Relay RSS per connection is the VmRSS delta over the relay
 * just before (warmed with a few connections, then idle); setups per relay CPU-second over the
 * connect phase. The memory figure includes the relay's heap slack, which weighs less the more
 * connections there are: the full run uses 10,000.
 */
import type { AgentSpec } from '../generator/ipc.js';
import { sleep, waitQuiet } from '../measure.js';
import { rssOf } from '../proc.js';
import type { RunningTarget } from '../targets.js';
import { closeAgents, collect, connectAll, endWindow, measurement, startWindow, type Ctx, type Measurement, type Scenario } from './common.js';

const GROUP = 10;

export function connectionsScenario(n: number): Scenario {
  return {
    id: 'idle',
    title: 'idle identified connections',
    metricName: 'relay bytes RSS / connection',
    lowerIsBetter: true,
    variants: [], // one phase, measured while preparing: nothing to interleave
    appliesTo: () => true,
    prepare: async (ctx, target) => ({
      measurements: await runConnections(ctx, target, n),
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

function specsFor(prefix: string, n: number, G: number): AgentSpec[][] {
  const parts: AgentSpec[][] = Array.from({ length: G }, () => []);
  for (let i = 0; i < n; i++) {
    const group = Math.floor(i / GROUP);
    // A whole group lives in one worker: its first agent creates the channel, the rest join.
    parts[group % G].push({ key: `${prefix}_${i}`, name: `idle${i}`, channel: `#${prefix}g${group}` });
  }
  return parts;
}

async function runConnections(ctx: Ctx, target: RunningTarget, n: number): Promise<Measurement[]> {
  const workers = ctx.pool.workers;
  const G = workers.length;
  const warmTag = ctx.nextRun();
  const tag = ctx.nextRun();
  const prefixes = [`w${warmTag}_`, `i${tag}_`];
  try {
    // Warm the relay's connect path, then let it settle: the baseline is a used, idle relay.
    await connectAll(workers, target.url, specsFor(`w${warmTag}`, 30, G), 10, 'warm-up connect');
    await closeAgents(ctx, target, prefixes);
    await sleep(ctx.quick ? 150 : 500);
    const rss0 = rssOf(target.pid);

    await ctx.pool.all({ op: 'arm', run: tag });
    const w0 = startWindow(ctx, target);
    let setupError = '';
    const ids = await connectAll(workers, target.url, specsFor(`i${tag}`, n, G), 64, 'idle connect').catch((err: Error) => {
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
    if (m.joined !== n) failures.push(`JOINED ${m.joined} of ${n}`);
    if (m.errors) failures.push(`relay ERRORs ${JSON.stringify(m.errorCodes)} (${m.firstError})`);
    if (m.closes) failures.push(`relay closed ${m.closes} sockets`);
    const base = { target: target.def.id, rep: ctx.rep, variant: `${n.toLocaleString('en-US')} conns` };
    return [
        measurement(
          { ...base, scenario: 'idle' },
          { metric: (rss1 - rss0) / connected, units: connected, expected: n, window: win, failures, extra: { rssBeforeBytes: rss0, rssAfterBytes: rss1 } },
        ),
        measurement(
          { ...base, scenario: 'setup' },
          { metric: connected / win.relayCpuS, units: connected, expected: n, window: win, failures, ratePerS: connected / win.wallS },
        ),
    ];
  } finally {
    await closeAgents(ctx, target, prefixes);
  }
}
