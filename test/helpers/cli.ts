/**
 * Helpers for the client and CLI tests: a relay on an ephemeral loopback port,
 * connected clients, and spawned `node dist/cli.js` processes, all cleaned up
 * through `t.teardown`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { AgentChatClient, type AgentChatClientOptions } from '../../client/index.js';
import type { Relay } from '../../kernel/index.js';
import { createRelay, type RelayOptions } from '../../relay.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO, 'dist', 'cli.js');

/** A relay on 127.0.0.1, ephemeral port, silent; closed at teardown. */
export async function startRelay(t: ExecutionContext, options: RelayOptions = {}): Promise<Relay & { url: string }> {
  const relay = createRelay({ host: '127.0.0.1', port: 0, log: false, ...options });
  await relay.listen();
  t.teardown(() => relay.close());
  return Object.assign(relay, { url: `ws://127.0.0.1:${relay.port}` });
}

/** A connected client (WELCOME received); disconnected at teardown. */
export async function connectClient(t: ExecutionContext, url: string, options: Omit<AgentChatClientOptions, 'server'> = {}): Promise<AgentChatClient> {
  // Generous: a 2-core box running the suite with its CLI children can starve the loop for seconds; no test here waits for a timeout.
  const client = new AgentChatClient({ server: url, requestTimeoutMs: 15_000, connectTimeoutMs: 15_000, ...options });
  t.teardown(() => client.disconnect());
  await client.connect();
  return client;
}

/** A temp directory removed at teardown. */
export async function tempDir(t: ExecutionContext, prefix = 'agentchat-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A spawned CLI process with line-oriented access to its output. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the next stdout line matching `test` (lines already seen count too). */
  line(test?: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** All stdout lines so far. */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  readonly stderr: () => string;
  /** Resolves with the exit code (signal exits give null). */
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to stdin, which is then closed. Leave undefined to keep stdin open. */
  input?: string;
  /** Node script to run instead of dist/cli.js. */
  script?: string;
  /** Flags for node itself, before the script. */
  nodeArgs?: string[];
}

/**
 * Spawn `node dist/cli.js ...args`; killed at teardown if still running. HOME is an
 * empty temp dir unless `env.HOME` is given: the tester's ~/.agentchat/identity.json
 * (used by default when it exists) must not change what a test sees.
 */
export function spawnCli(t: ExecutionContext, args: string[], options: SpawnOptions = {}): CliProcess {
  const script = options.script ?? CLI;
  if (!existsSync(script)) throw new Error(`${script} does not exist: run \`npm run build\` first (\`npm test\` does)`);
  let home = options.env?.HOME;
  if (home === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'agentchat-home-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, NO_COLOR: '1', ...options.env, HOME: home },
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  let consumed = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    const i = waiters.findIndex((w) => w.test(line));
    if (i !== -1) {
      consumed = lines.length;
      waiters.splice(i, 1)[0].resolve(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolveExit) => child.once('close', (code) => resolveExit(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (options.input !== undefined) child.stdin.end(options.input);

  return {
    child,
    lines,
    stderr: () => stderr,
    exited,
    line(test = () => true, timeoutMs = 8000) {
      const seen = lines.slice(consumed).find(test);
      if (seen !== undefined) {
        consumed = lines.indexOf(seen, consumed) + 1;
        return Promise.resolve(seen);
      }
      return new Promise<string>((resolveLine, reject) => {
        const timer = setTimeout(() => reject(new Error(`no stdout line matched in ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`)), timeoutMs);
        const waiter = { test, resolve: (line: string) => { clearTimeout(timer); resolveLine(line); } };
        waiters.push(waiter);
        void exited.then(() => {
          if (!waiters.includes(waiter)) return;
          waiters.splice(waiters.indexOf(waiter), 1);
          clearTimeout(timer);
          reject(new Error(`process exited before a stdout line matched; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        });
      });
    },
  };
}

/** Run ES module source with node in the repo (so `import … from 'agentchat'` is this package): exit code, stdout, stderr. */
export async function runModule(t: ExecutionContext, source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: REPO });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

/** Run the CLI to completion: exit code, stdout, stderr. */
export async function runCli(t: ExecutionContext, args: string[], options: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnCli(t, args, options);
  if (options.input === undefined) proc.child.stdin.end();
  const code = await proc.exited;
  return { code, stdout: proc.lines.join('\n'), stderr: proc.stderr() };
}

/** `agentchat serve --port 0` on loopback; resolves once it printed its listening line. */
export async function startServe(t: ExecutionContext, extraArgs: string[] = [], options: SpawnOptions = {}): Promise<CliProcess & { url: string; port: number }> {
  // A test's relay keeps nothing on disk unless the test gives it a data dir.
  const storage = ['--data-dir', '--memory', '--redis'].some((flag) => extraArgs.includes(flag)) ? [] : ['--memory'];
  const proc = spawnCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', ...storage, ...extraArgs], options);
  const first = await proc.line();
  const match = /^agentchat listening on (wss?):\/\/([^:]+):(\d+)$/.exec(first);
  if (!match) throw new Error(`unexpected first line from serve: ${first}`);
  const port = Number(match[3]);
  return Object.assign(proc, { port, url: `${match[1]}://127.0.0.1:${port}` });
}
