/**
 * A real Redis (Debian's redis-server) for the tests that need one: each test starts its
 * own on a free loopback port, with no persistence unless asked, in a temp dir, and stops
 * it at teardown. Where redis-server is absent, `redisTest` skips with the reason.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why Redis tests cannot run here, or null when redis-server is installed. */
export const redisMissing: string | null = (() => {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? null : 'redis-server is not installed (apt-get install redis-server; .ci/run installs it)';
})();

if (redisMissing) console.warn(`skipping Redis tests: ${redisMissing}`);

/** `test`, or `test.skip` with the reason printed once when redis-server is absent. */
export const redisTest = (redisMissing ? test.skip : test) as typeof test;

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** Start it again on the same port (after stop or kill), with the same data dir. */
  start(): Promise<void>;
  /** SHUTDOWN-like stop (SIGTERM), awaited. */
  stop(): Promise<void>;
  /** SIGKILL, awaited. */
  kill(): Promise<void>;
}

export interface RedisOptions {
  /** Turn on AOF (appendfsync always), so data survives a restart. */
  appendOnly?: boolean;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function launch(port: number, dir: string, options: RedisOptions): Promise<ChildProcess> {
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', options.appendOnly ? 'yes' : 'no', '--appendfsync', 'always',
    '--protected-mode', 'no', '--loglevel', 'notice', '--logfile', '',
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // the notice-level ready line says the listener is up once it appears.
      if (/Ready to accept connections/.test(output)) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${output.trim()}`)));
  });
}

async function ended(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = once(child, 'exit');
  child.kill(signal);
  await exit;
}

/** A Redis of this test's own, stopped (and its dir removed) at teardown. */
export async function startRedis(t: ExecutionContext, options: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'agentchat-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // A port found free can be taken before redis binds it; try a few.
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, options);
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
  let current: ChildProcess | undefined = child;
  t.teardown(async () => {
    if (current) await ended(current, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (current && current.exitCode === null && current.signalCode === null) return;
      current = await launch(port, dir, options);
    },
    async stop() {
      if (current) await ended(current, 'SIGTERM');
    },
    async kill() {
      if (current) await ended(current, 'SIGKILL');
    },
  };
}
