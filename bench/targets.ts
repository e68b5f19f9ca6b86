/**
 * The three relays the bench compares, each started as its own process, and how to build them.
 * A target is a start command whose first stdout line is `<name> listening on ws://HOST:PORT`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(REPO, '.tmp', 'bench');

export type TargetId = 'agentchat' | 'agentchat-sqlite' | 'agentchat-sync-verify' | 'agentchat-coalesce' | 'agentchat-coalesce-wide' | 'ws-baseline' | 'bare-uws';

export interface TargetDef {
  id: TargetId;
  label: string;
  /** node arguments (script first). */
  args: string[];
  /**
   * What it is measured in (everything when absent): scenario ids, or "scenario variant" for one
   * phase: a variant of the relay made for one comparison.
   */
  only?: string[];
}

export interface RunningTarget {
  def: TargetDef;
  pid: number;
  url: string;
  /** Loud things the process said: uWS JS fallback, stderr lines. */
  warnings: string[];
  stderrTail: string[];
  stdoutLines: number;
  alive(): boolean;
  stop(): Promise<void>;
}

/** Bundle generator worker and the two reference relays to plain JS (no tsx loader at run time). */
export async function buildBenchScripts(): Promise<{ worker: string; baseline: string; bare: string }> {
  await build({
    entryPoints: {
      worker: join(REPO, 'bench/generator/worker.ts'),
      'baseline-ws': join(REPO, 'bench/baseline-ws.ts'),
      'bare-uws': join(REPO, 'bench/bare-uws.ts'),
    },
    outdir: OUT,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return { worker: join(OUT, 'worker.mjs'), baseline: join(OUT, 'baseline-ws.mjs'), bare: join(OUT, 'bare-uws.mjs') };
}

/** Newest modification time of the relay's sources (ms), to tell a stale dist/ from a fresh one. */
function newestSourceMs(): number {
  let newest = 0;
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ['kernel', 'plugins', 'protocol', 'cli']) walk(join(REPO, d));
  if (existsSync(join(REPO, 'index.ts'))) newest = Math.max(newest, statSync(join(REPO, 'index.ts')).mtimeMs);
  return newest;
}

/**
 * dist/cli.js, built with `npm run build` when missing, older than the relay's sources, or when
 * asked. Returns null and a reason when unavailable.
 */
export function ensureRelayCli(forceBuild: boolean): { cli: string | null; reason: string } {
  const cli = join(REPO, 'dist', 'cli.js');
  const stale = existsSync(cli) && statSync(cli).mtimeMs < newestSourceMs();
  if (existsSync(cli) && !forceBuild && !stale) return { cli, reason: '' };
  const why = forceBuild ? 'rebuilding' : stale ? 'dist/cli.js older than the sources;' : 'dist/cli.js missing;';
  process.stderr.write(`bench: ${why} running npm run build\n`);
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0 || !existsSync(cli)) {
    const why = (r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').slice(-3).join(' | ');
    return { cli: null, reason: `npm run build failed or made no dist/cli.js: ${why}` };
  }
  return { cli, reason: '' };
}

/** The coalescing budget the agentchat-coalesce target runs with. */
export const COALESCE_MS = 5;
/**
 * The budget of agentchat-coalesce-wide, for the paced rows: at 50k deliveries/s 1 → 1,000's
 * messages are 20 ms apart, so no 5 ms budget ever holds two of them for one write; 50 ms holds ~2.5.
 */
export const COALESCE_WIDE_MS = 50;

/** Whether `def` is measured in scenario `scenario` (any phase), or in its phase `variant`. */
export function measuredIn(def: TargetDef, scenario: string, variant?: string): boolean {
  if (def.only === undefined) return true;
  return def.only.some((o) => o === scenario || (variant === undefined ? o.startsWith(`${scenario} `) : o === `${scenario} ${variant}`));
}

/** All bench traffic comes from 127.0.0.1: the per-address limits are turned off. */
export const NO_ADDRESS_LIMITS = ['--max-conns-per-ip', '0', '--conn-rate-per-ip', '0', '--max-sessions-per-ip', '0'];

/**
 * The channels plugin's creation quotas are per address too (20 a minute, 200 alive): the idle,
 * signed and joins scenarios create hundreds of channels from 127.0.0.1 within seconds.
 */
const BENCH_PLUGIN_OPTIONS = { channels: { createsPerMinute: 0, maxCreatedPerIp: 1_000_000 } };
const pluginOptions = (extra: Record<string, unknown> = {}): string[] => ['--plugin-options', JSON.stringify({ ...BENCH_PLUGIN_OPTIONS, ...extra })];

export function targetDefs(scripts: { baseline: string; bare: string }, cli: string | null, relayExtraArgs: string[], relayNodeArgs: string[] = []): TargetDef[] {
  const defs: TargetDef[] = [];
  if (cli) {
    defs.push({
      id: 'agentchat',
      label: 'agentchat (this relay)',
      // Rate limits raised out of the way; the limiter itself stays in the path.
      // Node flags as `npm start`, the CLI's shebang and the Docker image run it (see scripts/build.mjs).
      args: ['--max-semi-space-size=2', ...relayNodeArgs, cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-per-sec', '1000000', '--rate-burst', '1000000', '--memory', ...NO_ADDRESS_LIMITS, ...pluginOptions(), ...relayExtraArgs],
    });
    // The same relay on its embedded default: history written behind to SQLite in a fresh data dir.
    defs.push({
      id: 'agentchat-sqlite',
      label: 'agentchat (SQLite store)',
      args: ['--max-semi-space-size=2', ...relayNodeArgs, cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-per-sec', '1000000', '--rate-burst', '1000000', ...NO_ADDRESS_LIMITS, ...pluginOptions(),
        '--data-dir', mkdtempSync(join(tmpdir(), 'agentchat-bench-data-')), ...relayExtraArgs],
    });
    // The same relay verifying signatures as it did before: node:crypto on its event loop. For the signed rows.
    defs.push({
      id: 'agentchat-sync-verify',
      label: 'agentchat (node:crypto on the event loop)',
      args: ['--max-semi-space-size=2', ...relayNodeArgs, cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-per-sec', '1000000', '--rate-burst', '1000000', '--memory', ...NO_ADDRESS_LIMITS,
        ...pluginOptions({ identity: { maxVerifiesInFlight: 0, ed25519: 'node:crypto' } }), ...relayExtraArgs],
      only: ['signed', 'signed-raw'],
    });
    // The same relay with coalesced writes on busy channels, for the paced fan-out rows.
    defs.push({
      id: 'agentchat-coalesce',
      label: `agentchat (--coalesce-ms ${COALESCE_MS})`,
      args: ['--max-semi-space-size=2', ...relayNodeArgs, cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-per-sec', '1000000', '--rate-burst', '1000000', '--memory', ...NO_ADDRESS_LIMITS,
        ...pluginOptions(), '--coalesce-ms', String(COALESCE_MS), ...relayExtraArgs],
      only: ['fanout-100 50k/s paced', 'fanout-1000 50k/s paced', 'fanout-100 50k/s', 'fanout-100-raw 50k/s', 'fanout-100-raw 50k/s paced', 'fanout-1000-raw 50k/s paced'],
    });
    defs.push({
      id: 'agentchat-coalesce-wide',
      label: `agentchat (--coalesce-ms ${COALESCE_WIDE_MS})`,
      args: ['--max-semi-space-size=2', ...relayNodeArgs, cli, 'serve', '--port', '0', '--host', '127.0.0.1', '--rate-per-sec', '1000000', '--rate-burst', '1000000', '--memory', ...NO_ADDRESS_LIMITS,
        ...pluginOptions(), '--coalesce-ms', String(COALESCE_WIDE_MS), ...relayExtraArgs],
      only: ['fanout-100 50k/s paced', 'fanout-1000 50k/s paced', 'fanout-100-raw 50k/s paced', 'fanout-1000-raw 50k/s paced'],
    });
  }
  defs.push({ id: 'ws-baseline', label: 'ws baseline', args: [scripts.baseline, '--port', '0', '--host', '127.0.0.1'] });
  defs.push({ id: 'bare-uws', label: 'bare uWS ceiling', args: [scripts.bare, '--port', '0', '--host', '127.0.0.1'] });
  return defs;
}

export function startTarget(def: TargetDef, timeoutMs = 30_000): Promise<RunningTarget> {
  const proc: ChildProcess = spawn(process.execPath, def.args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const warnings: string[] = [];
  const stderrTail: string[] = [];
  let stdoutLines = 0;
  let exited = false;
  proc.on('exit', () => {
    exited = true;
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) {
      if (!line.trim()) continue;
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      if (/fall(ing)?\s*back|fallback/i.test(line) && warnings.length < 5) warnings.push(`stderr: ${line.trim()}`);
    }
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    let url = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${def.id}: no "listening on ws://" line within ${timeoutMs} ms; stderr: ${stderrTail.join(' | ')}`));
    }, timeoutMs);
    proc.on('exit', (code, signal) => {
      if (url) return;
      clearTimeout(timer);
      reject(new Error(`${def.id} exited (${code ?? signal}) before listening; stderr: ${stderrTail.join(' | ')}`));
    });
    // Keep draining stdout for the whole life of the process: a relay that logs must never block.
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (url) {
        for (const c of chunk) if (c === '\n') stdoutLines++;
        return;
      }
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const first = buffered.slice(0, nl);
      const m = /listening on (ws:\/\/\S+)/.exec(first);
      clearTimeout(timer);
      if (!m) {
        proc.kill('SIGKILL');
        reject(new Error(`${def.id}: first stdout line is not "... listening on ws://...": ${first}`));
        return;
      }
      url = m[1];
      resolve({
        def,
        pid: proc.pid as number,
        url,
        warnings,
        stderrTail,
        get stdoutLines() {
          return stdoutLines;
        },
        alive: () => !exited,
        stop: () => stopProcess(proc),
      });
    });
  });
}

export function stopProcess(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
