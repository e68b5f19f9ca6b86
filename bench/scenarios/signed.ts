/**
 * Signed messages (this relay only): agents with Ed25519 identities (CHALLENGE/VERIFY answered)
 * send signed MSGs to their own one-member channel, so the cost is the verify path, not fan-out.
 * Messages are signed before the window opens: the generator's signing never competes with the
 * relay. The ceiling is node:crypto's raw verify rate on this machine, measured in a worker.
 * Two relays: agentchat (verifying on the libuv thread pool) and the same relay verifying on its
 * event loop (`maxVerifiesInFlight: 0`, the path before), so `max` compares them in one run.
 */
import type { CeilingReply, PublishReply, Sender } from '../generator/ipc.js';
import { waitQuiet } from '../measure.js';
import type { RunningTarget } from '../targets.js';
import {
  closeAgents, collect, connectAll, deliveryFailures, endWindow, measurement, pacingFailures, startWindow, waitFor,
  type Ctx, type Measurement, type Prepared, type Scenario,
} from './common.js';

const AGENTS = 20;
const CONTENT_CHARS = 100;
/**
 * At max, MSGs each sender keeps in flight. The relay starts the checks of a session's waiting
 * signed MSGs early (up to 16), so the window, not one check per session, bounds what the threads get.
 */
const WINDOW = 24;
/** Presigned per sender per second of a max run: 40k/s in all, above what two cores can verify (~20–25k/s with libsodium). */
const MAX_RATE_PER_SENDER = 2000;

/** `raw`: senders are raw-TCP clients (generator/raw.ts), max only: the generator then costs the machine least. */
export function signedScenario(offered: number, raw = false): Scenario {
  return {
    id: raw ? 'signed-raw' : 'signed',
    title: `signed MSG ${AGENTS} agents${raw ? ' (raw TCP generator)' : ''}`,
    metricName: 'relay µs CPU / verified signed MSG',
    lowerIsBetter: true,
    variants: raw ? ['max'] : [`${offered / 1000}k/s`, 'max'],
    appliesTo: (t) => t === 'agentchat' || t === 'agentchat-sync-verify',
    prepare: (ctx, target) => prepareSigned(ctx, target, offered, raw),
  };
}

async function prepareSigned(ctx: Ctx, target: RunningTarget, offered: number, raw: boolean): Promise<Prepared> {
  const workers = ctx.pool.workers;
  const G = workers.length;
  const tag = ctx.nextRun();
  const prefixes = [`k${tag}_`];
  const channelOf = (i: number): string => `#s${tag}x${i}`;
  const mine = (wi: number): number[] => Array.from({ length: AGENTS }, (_, i) => i).filter((i) => i % G === wi);
  const sendersOf = (wi: number): Sender[] => mine(wi).map((i) => ({ key: `k${tag}_${i}`, to: channelOf(i), idx: i }));
  const ratePerSender = offered / AGENTS;

  const one = async (durationMs: number, max: boolean): Promise<Measurement> => {
    const run = ctx.nextRun();
    const perSender = Math.max(2, Math.round(((max ? MAX_RATE_PER_SENDER : ratePerSender) * durationMs) / 1000));
    await Promise.all(workers.map((w, wi) => w.request({ op: 'presign', run, senders: sendersOf(wi), perSender, size: CONTENT_CHARS }, 120_000)));
    await ctx.pool.all({ op: 'arm', run, count: raw });
    const w0 = startWindow(ctx, target);
    const pubs = await Promise.all(
      workers.map((w, wi) =>
        max
          ? w.request<PublishReply>({ op: 'signedMax', run, senders: sendersOf(wi), window: WINDOW, durationMs }, durationMs + 30_000)
          : w.request<PublishReply>({ op: 'publish', run, kind: 'S', senders: sendersOf(wi), ratePerSender, maxPerSender: perSender, durationMs, size: CONTENT_CHARS, window: 0, tickMs: 0 }),
      ),
    );
    const sent = pubs.reduce((a, p) => a + p.total, 0);
    await waitFor(workers, (c) => c.received >= sent || c.errors > 0);
    const win = endWindow(ctx, target, w0);
    const m = await collect(workers);
    const perMsgUs = (win.relayCpuS / m.received) * 1e6;
    return measurement(
      { scenario: raw ? 'signed-raw' : 'signed', variant: max ? 'max' : `${offered / 1000}k/s`, target: target.def.id, rep: ctx.rep },
      {
        metric: perMsgUs, units: m.received, expected: sent, window: win,
        failures: [...deliveryFailures(m, sent), ...pacingFailures(pubs)],
        ratePerS: m.received / win.wallS, offeredPerS: max ? null : offered,
        extra: { verifiedPerRelayCpuS: 1e6 / perMsgUs },
      },
    );
  };

  try {
    await connectAll(
      workers, target.url,
      workers.map((_, wi) => mine(wi).map((i) => ({ key: `k${tag}_${i}`, name: `signer${i}`, signed: true, channel: channelOf(i), raw }))),
      20, 'signed setup',
    );
    await waitQuiet(target.pid, 2000);
    await one(ctx.warmMs, false); // warm-up, not recorded
  } catch (err) {
    await closeAgents(ctx, target, prefixes);
    throw err;
  }
  return {
    measurements: [],
    run: async (variant) => {
      const row = await one(ctx.measureMs, variant === 'max');
      // Ceiling: node:crypto raw verifies per CPU-second, measured now on the same (noisy) machine.
      const c = await workers[0].request<CeilingReply>({ op: 'verifyCeiling', ms: ctx.quick ? 300 : 1000 });
      row.extra.rawVerifyPerCpuS = c.verifies / c.cpuS;
      row.extra.rawVerifyUs = (c.cpuS / c.verifies) * 1e6;
      return row;
    },
    teardown: () => closeAgents(ctx, target, prefixes),
  };
}
