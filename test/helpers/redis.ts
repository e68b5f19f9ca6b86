/**
 * A real Redis (Debian's redis-server) for the tests that need one: each test starts its
 * own on a free loopback port, with no persistence unless asked, in a temp dir, and stops
 * it at teardown (started through bench/redis-server.ts). Where redis-server is absent,
 * `redisTest` skips with the reason.
 */
import test, { type ExecutionContext } from 'ava';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ended, freePort, launchRedis, redisMissing as missing, type LaunchOptions } from '../../bench/redis-server.js';

/** Why Redis tests cannot run here, or null when redis-server is installed. */
export const redisMissing: string | null = missing();

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

export type RedisOptions = LaunchOptions;

/** A Redis of this test's own, stopped (and its dir removed) at teardown. */
export async function startRedis(t: ExecutionContext, options: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'agentchat-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // A port found free can be taken before redis binds it; try a few.
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launchRedis(port, dir, options);
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
      current = await launchRedis(port, dir, options);
    },
    async stop() {
      if (current) await ended(current, 'SIGTERM');
    },
    async kill() {
      if (current) await ended(current, 'SIGKILL');
    },
  };
}
