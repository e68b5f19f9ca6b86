/**
 * A throwaway redis-server (Debian's) on a free loopback port, in its own temp dir: for the
 * bench, and under the tests' ava wrapper (test/helpers/redis.ts). One place knows how to
 * start one and tell when it is ready.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why Redis cannot be started here, or null when redis-server is installed. */
export function redisMissing(): string | null {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? null : 'redis-server is not installed (apt-get install redis-server; .ci/run installs it)';
}

export interface BenchRedis {
  port: number;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** Turn on AOF (appendfsync always), so data survives a restart. */
  appendOnly?: boolean;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Start redis-server on `port` with its files in `dir`; resolves once it accepts connections. */
export function launchRedis(port: number, dir: string, options: LaunchOptions = {}): Promise<ChildProcess> {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', options.appendOnly ? 'yes' : 'no', '--appendfsync', 'always',
    '--protected-mode', 'no', '--loglevel', 'notice', '--logfile', '',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The notice-level ready line says the listener is up.
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

/** Signal a child and wait for its exit (at once if it has exited already). */
export async function ended(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = once(child, 'exit');
  child.kill(signal);
  await exit;
}

export async function startBenchRedis(): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'agentchat-bench-redis-'));
  const port = await freePort();
  const child = await launchRedis(port, dir);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      await ended(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
