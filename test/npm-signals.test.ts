/**
 * `npm start` and `npx agentchat serve` stop the relay when npm is signalled. npm
 * passes SIGTERM/SIGINT to its `sh -c` child only; `start` execs the CLI so the
 * relay is that child, and under npx (where the shell stays) the CLI notices it
 * was orphaned. Each test starts npm in its own process group, waits for the
 * listening line, signals, and then checks from outside: no process of that run
 * is left (found by a marker in their environment), and nothing answers on the port.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { REPO, tempDir } from './helpers/cli.js';

const MARK = 'AGENTCHAT_NPM_SIGNALS_TEST';
/** npm itself takes a second or more to start on a loaded machine; these bound waits, they are not expected. */
const START_MS = 30_000;
const STOP_MS = 15_000;

interface NpmRun {
  npm: ChildProcessWithoutNullStreams;
  port: number;
  marker: string;
  stderr: () => string;
  /** Resolves when every process holding npm's stdout and stderr (npm, sh, the relay) has exited. */
  outputClosed: Promise<void>;
}

/** Live processes whose environment carries this run's marker (zombies have none and do not count). */
function markedPids(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`${MARK}=${marker}`)) pids.push(Number(entry));
    } catch {
      // Gone already, or not ours to read.
    }
  }
  return pids;
}

function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `npm ...args` in REPO with PORT=0 on loopback; resolves once the relay printed its listening line. */
async function startUnderNpm(t: ExecutionContext, args: string[]): Promise<NpmRun> {
  const marker = randomUUID();
  // Each run its own data dir: the repo's ./data is no test's to share.
  const dataDir = await tempDir(t);
  const npm = spawn('npm', args, {
    cwd: REPO,
    env: { ...process.env, [MARK]: marker, PORT: '0', HOST: '127.0.0.1', NO_COLOR: '1', DATA_DIR: dataDir },
    detached: true, // its own process group, as a terminal gives a foreground job
  });
  t.teardown(() => {
    for (const pid of markedPids(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
  });
  let stderr = '';
  npm.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const stdoutClosed = new Promise<void>((resolve) => npm.stdout.once('close', resolve));
  const stderrClosed = new Promise<void>((resolve) => npm.stderr.once('close', resolve));
  const lines = createInterface({ input: npm.stdout });
  const listening = new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      const match = /^agentchat listening on ws:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    void stdoutClosed.then(() => reject(new Error(`npm ${args.join(' ')} ended before the relay listened; stderr:\n${stderr}`)));
  });
  const port = await within(listening, START_MS, () => `no listening line from npm ${args.join(' ')} in ${START_MS} ms; stderr:\n${stderr}`);
  return { npm, port, marker, stderr: () => stderr, outputClosed: Promise.all([stdoutClosed, stderrClosed]).then(() => {}) };
}

/** Resolves with the connect error's code: ECONNREFUSED once nothing listens. */
function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function assertStopped(t: ExecutionContext, run: NpmRun, signal: NodeJS.Signals): Promise<void> {
  await within(run.outputClosed, STOP_MS, () => `npm, sh or the relay still hold their output ${STOP_MS} ms after ${signal}; processes left: ${markedPids(run.marker).join(' ')}\nstderr:\n${run.stderr()}`);
  t.deepEqual(markedPids(run.marker), [], 'no process of this run is left');
  t.is(await connectError(run.port), 'ECONNREFUSED', `nothing listens on ${run.port} any more`);
  t.regex(run.stderr(), new RegExp(`agentchat: (${signal}|SIGTERM), closing the relay`), 'the relay closed itself rather than being killed');
  t.regex(run.stderr(), /"event":"stop"/);
}

/** The relay's process: a marked process other than npm (and other than npx's shell). */
function relayIsRunning(run: NpmRun): boolean {
  return markedPids(run.marker).some((pid) => {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    return pid !== run.npm.pid && argv[0].endsWith('node') && argv.includes('serve');
  });
}

// --ignore-scripts skips prestart (a build while other tests read dist/); `start` itself still runs.
const NPM_START = ['start', '--ignore-scripts'];
const NPX_SERVE = ['exec', '--no-install', '--', 'agentchat', 'serve'];

test('npm start: SIGTERM to npm stops the relay, which closes cleanly and frees its port', async (t) => {
  const run = await startUnderNpm(t, NPM_START);
  t.true(relayIsRunning(run));
  run.npm.kill('SIGTERM');
  await assertStopped(t, run, 'SIGTERM');
});

test('npm start: SIGINT to npm stops the relay too', async (t) => {
  const run = await startUnderNpm(t, NPM_START);
  run.npm.kill('SIGINT');
  await assertStopped(t, run, 'SIGINT');
});

test('npm start: even SIGKILL to npm does not leave the relay serving (it notices it was orphaned)', async (t) => {
  const run = await startUnderNpm(t, NPM_START);
  run.npm.kill('SIGKILL');
  await assertStopped(t, run, 'SIGTERM');
});

test('npx agentchat serve: SIGTERM to the npx process stops the relay although sh -c does not pass it on', async (t) => {
  const run = await startUnderNpm(t, NPX_SERVE);
  t.true(relayIsRunning(run));
  run.npm.kill('SIGTERM');
  await assertStopped(t, run, 'SIGTERM');
});

test('npx agentchat serve: Ctrl-C (SIGINT to the whole foreground process group) stops the relay', async (t) => {
  const run = await startUnderNpm(t, NPX_SERVE);
  process.kill(-run.npm.pid!, 'SIGINT');
  await assertStopped(t, run, 'SIGINT');
});
