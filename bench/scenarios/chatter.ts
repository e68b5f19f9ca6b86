/**
 * Chatter: 200 agents in 20 channels (10 members each), every agent sending at a fixed rate.
 * Each message reaches the 10 members of its channel, sender included.
 */
import type { PublishReply, Sender } from '../generator/ipc.js';
import { waitQuiet } from '../measure.js';
import type { RunningTarget } from '../targets.js';
import {
  closeAgents, collect, connectAll, deliveryFailures, endWindow, measurement, pacingFailures, startWindow, waitFor,
  type Ctx, type Measurement, type Prepared, type Scenario,
} from './common.js';

const AGENTS = 200;
const CHANNELS = 20;
const MEMBERS = AGENTS / CHANNELS;
const CONTENT_CHARS = 100;

export function chatterScenario(offered: number): Scenario {
  return {
    id: 'chatter',
    title: `chatter ${AGENTS} agents / ${CHANNELS} channels`,
    metricName: 'relay µs CPU / delivery',
    lowerIsBetter: true,
    variants: [`${offered / 1000}k/s`],
    appliesTo: () => true,
    prepare: (ctx, target) => prepareChatter(ctx, target, offered),
  };
}

async function prepareChatter(ctx: Ctx, target: RunningTarget, offered: number): Promise<Prepared> {
  const workers = ctx.pool.workers;
  const G = workers.length;
  const tag = ctx.nextRun();
  const prefixes = [`c${tag}_`];
  const channelOf = (i: number): string => `#c${tag}x${i % CHANNELS}`;
  // Agent i lives in worker i % G; channel membership crosses workers so fan-out crosses processes.
  const specs = Array.from({ length: AGENTS }, (_, i) => ({ key: `c${tag}_${i}`, name: `chat${i}`, channel: channelOf(i), channelExists: i >= CHANNELS }));
  const byWorker = (list: typeof specs): (typeof specs)[] => workers.map((_, wi) => list.filter((s) => Number(s.key.split('_')[1]) % G === wi));
  const sendersOf = (wi: number): Sender[] => specs.map((s, i) => ({ key: s.key, to: channelOf(i), idx: i })).filter((_, i) => i % G === wi);
  const ratePerSender = offered / (AGENTS * MEMBERS);

  const one = async (durationMs: number): Promise<Measurement> => {
    const run = ctx.nextRun();
    await ctx.pool.all({ op: 'arm', run });
    const maxPerSender = Math.max(2, Math.round((ratePerSender * durationMs) / 1000));
    const w0 = startWindow(ctx, target);
    const pubs = await Promise.all(
      workers.map((w, wi) =>
        w.request<PublishReply>({ op: 'publish', run, kind: 'B', senders: sendersOf(wi), ratePerSender, maxPerSender, durationMs, size: CONTENT_CHARS, window: 0, tickMs: 0 }),
      ),
    );
    const sent = pubs.reduce((a, p) => a + p.total, 0);
    const expected = sent * MEMBERS;
    await waitFor(workers, (c) => c.received >= expected);
    const win = endWindow(ctx, target, w0);
    const m = await collect(workers);
    const firstNs = Math.min(...pubs.map((p) => p.firstNs));
    return measurement(
      { scenario: 'chatter', variant: `${offered / 1000}k/s`, target: target.def.id, rep: ctx.rep },
      {
        metric: (win.relayCpuS / m.received) * 1e6, units: m.received, expected, window: win,
        failures: [...deliveryFailures(m, expected), ...pacingFailures(pubs)],
        ratePerS: m.received / ((m.lastRecvNs - firstNs) / 1e9), offeredPerS: offered,
        p50Us: m.hist.percentile(50), p99Us: m.hist.percentile(99),
        extra: { messagesSent: sent, stray: m.stray, replaySkipped: m.replay },
      },
    );
  };

  try {
    // The first 20 agents create the channels, then the rest join.
    await connectAll(workers, target.url, byWorker(specs.slice(0, CHANNELS)), 50, 'chatter channels');
    await connectAll(workers, target.url, byWorker(specs.slice(CHANNELS)), 50, 'chatter agents');
    await waitQuiet(target.pid, 2000);
    await one(ctx.warmMs); // warm-up, not recorded
  } catch (err) {
    await closeAgents(ctx, target, prefixes);
    throw err;
  }
  return { measurements: [], run: () => one(ctx.measureMs), teardown: () => closeAgents(ctx, target, prefixes) };
}
