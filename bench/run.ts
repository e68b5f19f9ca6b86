/**
 * agentchat bench: the relay under test against a ws baseline and a bare uWS ceiling, each its own
 * process, interleaved A B C A B C so machine noise is shared. See bench/README.md.
 *
 *   npm run bench                  full, about 30 minutes
 *   npm run bench -- --quick       about 7 minutes
 *   options: --reps N  --targets agentchat,agentchat-sqlite,agentchat-sync-verify,ws-baseline,bare-uws  --scenarios idle,fanout-100,fanout-100-raw,...
 *            --workers N  --relay-arg=--flag (repeatable)  --relay-node-arg=--cpu-prof (repeatable: node flags for
 *            this relay's process, e.g. to profile it)  --build (rebuild dist/cli.js)  --out FILE
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from './generator/pool.js';
import { detailTable, readmeTable, summarize, verdicts, type RowInfo } from './report.js';
import { chatterScenario } from './scenarios/chatter.js';
import { clusterScenario, type ClusterResult } from './scenarios/cluster.js';
import { failed, generatorOnly, type Ctx, type Measurement, type Prepared, type Scenario } from './scenarios/common.js';
import { connectionSteps, connectionsScenario, marginalScenarioInfo, setupScenarioInfo } from './scenarios/connections.js';
import { dmScenario } from './scenarios/dm.js';
import { fanoutScenario, joinScenarioInfo } from './scenarios/fanout.js';
import { joinsScenario } from './scenarios/joins.js';
import { signedScenario } from './scenarios/signed.js';
import { REPO, buildBenchScripts, ensureRelayCli, measuredIn, startTarget, targetDefs, type RunningTarget, type TargetDef, type TargetId } from './targets.js';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string', default: '3' },
    targets: { type: 'string', default: 'agentchat,agentchat-sqlite,agentchat-sync-verify,agentchat-coalesce,agentchat-coalesce-wide,ws-baseline,bare-uws' },
    scenarios: { type: 'string' },
    workers: { type: 'string', default: '3' },
    'relay-arg': { type: 'string', multiple: true, default: [] },
    'relay-node-arg': { type: 'string', multiple: true, default: [] },
    build: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

const quick = opt.quick ?? false;
const reps = Math.max(1, Number(opt.reps));
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** This shell's descriptor limit (the relay under test inherits it); 1,048,576 where it says unlimited. */
function nofileLimit(): number {
  try {
    const text = execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim();
    return text === 'unlimited' ? 1 << 20 : Number.parseInt(text, 10) || 1024;
  } catch {
    return 1024;
  }
}

const scenarios: Scenario[] = [
  connectionsScenario(connectionSteps(quick, nofileLimit())),
  fanoutScenario({ subscribers: 100, loads: [20_000, 50_000], pacedLoad: 50_000, measureJoin: false }),
  fanoutScenario({ subscribers: 1000, loads: [20_000, 50_000], pacedLoad: 50_000, measureJoin: true }),
  // The same fan-outs driven by the raw-TCP generator, which is cheap enough that the relay saturates first.
  fanoutScenario({ subscribers: 10, loads: [50_000], pacedLoad: 0, measureJoin: false, raw: true }),
  fanoutScenario({ subscribers: 100, loads: [50_000], pacedLoad: 50_000, measureJoin: false, raw: true }),
  fanoutScenario({ subscribers: 1000, loads: [50_000], pacedLoad: 50_000, measureJoin: false, raw: true }),
  chatterScenario(20_000),
  dmScenario(100),
  signedScenario(2000),
  signedScenario(2000, true),
  joinsScenario(quick ? [250, 500, 1000] : [250, 500, 1000, 2000]),
];
const wanted = opt.scenarios ? opt.scenarios.split(',') : null;
const active = wanted ? scenarios.filter((s) => wanted.includes(s.id)) : scenarios;
const infos = new Map<string, RowInfo>([
  ...scenarios.map((s): [string, RowInfo] => [s.id, s]),
  [joinScenarioInfo.id, joinScenarioInfo],
  [setupScenarioInfo.id, setupScenarioInfo],
  [marginalScenarioInfo.id, marginalScenarioInfo],
]);

const live = new Set<RunningTarget>();
let pool: Pool | null = null;
function killEverything(): void {
  for (const t of live) {
    try {
      process.kill(t.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  pool?.kill();
}
process.on('exit', killEverything);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killEverything();
    process.exit(130);
  });
}
// Every run ends by itself: a hung phase cannot keep processes alive past this.
const hardLimitMs = (quick ? 15 : 60) * 60_000 * (reps / 3);
setTimeout(() => {
  log(`bench: hard time limit (${hardLimitMs / 60000} min) reached; stopping everything`);
  killEverything();
  process.exit(2);
}, hardLimitMs).unref();

function git(cmd: string): string {
  try {
    return execSync(`git ${cmd}`, { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function pkgVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function report(rep: number, scenario: string, t: RunningTarget, phase: string, t0: number, ms: Measurement[]): void {
  const bad = ms.filter((m) => !m.ok);
  const status = bad.length ? `  FAILED: ${bad.map((m) => `${m.scenario} ${m.variant}: ${m.failures.join('; ')}`).join(' | ')}` : '';
  log(`[${rep}/${reps}] ${scenario.padEnd(12)} ${t.def.id.padEnd(12)} ${phase.padEnd(9)} ${((Date.now() - t0) / 1000).toFixed(1)}s${status}`);
}

async function runVariant(p: Prepared, v: string, scenario: string, t: RunningTarget, rep: number): Promise<Measurement> {
  try {
    return await p.run(v);
  } catch (err) {
    return failed({ scenario, variant: v, target: t.def.id, rep }, (err as Error).message);
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadStart = os.loadavg();
  const wantTargets = (opt.targets ?? '').split(',') as TargetId[];
  const scripts = await buildBenchScripts();
  const relay = wantTargets.some((t) => t.startsWith('agentchat')) ? ensureRelayCli(opt.build ?? false) : { cli: null, reason: 'not requested' };
  if (!relay.cli && wantTargets.some((t) => t.startsWith('agentchat'))) log(`bench: agentchat relay unavailable — ${relay.reason}`);
  const defs = targetDefs(scripts, relay.cli, opt['relay-arg'] ?? [], opt['relay-node-arg'] ?? []).filter((d) => wantTargets.includes(d.id));
  pool = new Pool(scripts.worker, Math.max(2, Number(opt.workers)));
  let runSeq = 1;
  const all: Measurement[] = [];
  const warnings: Record<string, string[]> = {};

  for (let rep = 1; rep <= reps; rep++) {
    // Fresh relays each round, started one after the other, idle until their turn.
    const running: RunningTarget[] = [];
    for (const def of defs) {
      const t = await startTarget(def);
      live.add(t);
      running.push(t);
    }
    // A relay an earlier scenario used is restarted before the next: each row is measured on relays
    // in the same state (a relay that has served the fan-outs has a fuller history and a larger
    // heap than one that has not), whatever ran before it.
    const used = new Set<number>();
    /** Stop the relay in slot `i` (if it still runs) and start its like there. */
    const replace = async (i: number): Promise<RunningTarget> => {
      const old = running[i];
      await old.stop();
      live.delete(old);
      const fresh = await startTarget(old.def);
      live.add(fresh);
      return (running[i] = fresh);
    };
    const ctx: Ctx = { pool, quick, measureMs: quick ? 500 : 4000, warmMs: quick ? 200 : 1500, rep, nextRun: () => runSeq++, log };
    for (const s of active) {
      const slots = running.map((t, i) => ({ i, t })).filter(({ t }) => s.appliesTo(t.def.id) && measuredIn(t.def, s.id));
      for (const slot of slots) {
        if (used.has(slot.i)) slot.t = await replace(slot.i);
        used.add(slot.i);
      }
      // One phase or none: A then B then C. Several: prepare all, then each phase on A, B, C.
      const groups = s.variants.length > 1 ? [slots] : slots.map((slot) => [slot]);
      for (const group of groups) {
        const prepared = new Map<number, Prepared>();
        for (const { i, t } of group) {
          const t0 = Date.now();
          try {
            const p = await s.prepare(ctx, t);
            prepared.set(i, p);
            all.push(...p.measurements);
            report(rep, s.id, t, 'prepare', t0, p.measurements);
          } catch (err) {
            all.push(failed({ scenario: s.id, variant: 'setup', target: t.def.id, rep }, (err as Error).message));
            log(`[${rep}/${reps}] ${s.id} ${t.def.id} setup ERROR ${(err as Error).message}`);
          }
        }
        for (const v of s.variants) {
          for (const { i, t } of group) {
            const p = prepared.get(i);
            if (!p || !t.alive() || !measuredIn(t.def, s.id, v)) continue;
            const t0 = Date.now();
            let m = await runVariant(p, v, s.id, t, rep);
            if (generatorOnly(m)) {
              // The generator could not offer the load (a busy machine): that run measured the
              // generator, not the relay. Once more; if it happens again the row says so.
              log(`[${rep}/${reps}] ${s.id} ${t.def.id} ${v}: ${m.failures.join('; ')} — retrying once`);
              m = await runVariant(p, v, s.id, t, rep);
              m.extra.retried = 1;
            }
            all.push(m);
            report(rep, s.id, t, v, t0, [m]);
          }
        }
        for (const { i, t } of group) {
          await prepared.get(i)?.teardown().catch((err: Error) => log(`teardown ${t.def.id}: ${err.message}`));
          if (!t.alive()) {
            (warnings[t.def.id] ??= []).push(`rep ${rep}: died during ${s.id}; stderr: ${t.stderrTail.slice(-5).join(' | ')}`);
            await replace(i);
          }
        }
      }
    }
    for (const t of running) {
      for (const w of t.warnings) if (!(warnings[t.def.id] ??= []).includes(w)) warnings[t.def.id].push(w);
      await t.stop();
      live.delete(t);
    }
  }
  // The cluster runs its own relays (several per set-up, on a Redis), after the targets' rounds.
  let cluster: ClusterResult | null = null;
  if (!wanted || wanted.includes('cluster')) {
    const ctx: Ctx = { pool, quick, measureMs: quick ? 500 : 4000, warmMs: quick ? 200 : 1500, rep: 0, nextRun: () => runSeq++, log };
    cluster = relay.cli
      ? await clusterScenario({ ...ctx, cli: relay.cli, reps, relayNodeArgs: opt['relay-node-arg'] ?? [], relayExtraArgs: opt['relay-arg'] ?? [] })
      : { skipped: 'the agentchat relay is not in --targets or did not build', runs: [], lines: ['', 'cluster: skipped — the agentchat relay is not in --targets or did not build'] };
  }
  await pool.stop();

  const order = defs.map((d) => d.id);
  const rows = summarize(all, infos, order);
  const v = verdicts(rows);
  const detail = detailTable(rows);
  const readme = readmeTable(rows);
  const lines = [
    '',
    `agentchat bench (${quick ? 'quick' : 'full'}, ${reps} interleaved runs each; medians, min–max in brackets)`,
    `machine: ${os.cpus().length} cores ${os.cpus()[0]?.model ?? ''}, Node ${process.version}, load avg at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}`,
    'relay CPU / gen CPU / other: cores busy during the window (100% = one core): the relay, the generator workers, everything else on the machine.',
    '',
    detail,
    '',
    'Targets (agentchat):',
    ...v.map((x) => `  ${x.pass === null ? 'n/a ' : x.pass ? 'PASS' : 'FAIL'}  ${x.target} — ${x.detail}`),
    '',
    'README table:',
    '',
    readme,
    '',
  ];
  if (cluster) lines.push(...cluster.lines, '');
  if (!relay.cli) lines.push(`agentchat relay not measured: ${relay.reason}`);
  for (const [id, ws] of Object.entries(warnings)) for (const w of ws) lines.push(`warning ${id}: ${w}`);
  process.stdout.write(lines.join('\n') + '\n');

  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    reps,
    machine: {
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? '',
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      totalMemBytes: os.totalmem(),
      loadAvgStart: loadStart,
      loadAvgEnd: os.loadavg(),
      ulimitN: (() => {
        try {
          return execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim();
        } catch {
          return '';
        }
      })(),
    },
    versions: { uWebSocketsJs: pkgVersion('uWebSockets.js'), ws: pkgVersion('ws') },
    git: { commit: git('rev-parse HEAD'), dirty: git('status --porcelain').length > 0 },
    generatorWorkers: pool.workers.length,
    targets: defs.map((d: TargetDef) => ({ id: d.id, label: d.label, command: ['node', ...d.args.map((a) => a.replace(REPO + '/', ''))].join(' ') })),
    relayUnavailable: relay.cli ? null : relay.reason,
    warnings,
    verdicts: v,
    summary: rows,
    measurements: all,
    readmeTable: readme,
    cluster,
  };
  const dir = join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = opt.out ?? join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify(result, (_k, val) => (typeof val === 'number' && !Number.isFinite(val) ? null : val), 2) + '\n');
  log(`bench: wrote ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`bench: ${(err as Error).stack ?? err}`);
    killEverything();
    process.exit(1);
  },
);
