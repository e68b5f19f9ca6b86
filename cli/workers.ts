/**
 * `serve --workers N`: a supervisor running N relay processes on one port. Each worker is
 * the same `serve` command without --workers, told by WORKER_PORT_ENV to listen on the
 * supervisor's port with SO_REUSEPORT (the kernel spreads connections over them). Relays
 * on one port see each other only through Redis, so serve allows this only with --redis.
 *
 * The supervisor prints the listening line once every worker listens, restarts a worker
 * that dies (backoff, bounded per minute), forwards SIGTERM/SIGINT and exits once the
 * workers have. It gives up with one line (exit 1) when a worker fails to start the first
 * time or keeps crashing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { EXIT, UsageError } from './errors.js';
import { parseNumber } from './numbers.js';
import { status } from './output.js';

/** Set in a worker's environment: the port to share. Its presence makes `serve` a worker. */
export const WORKER_PORT_ENV = 'AGENTCHAT_WORKER_PORT';
/** The worker's number (1…N), for its logs. */
export const WORKER_ID_ENV = 'AGENTCHAT_WORKER';

/** More workers than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

/** Restarts of one worker within a minute before the supervisor gives up. */
export const MAX_RESTARTS_PER_MINUTE = 5;
const RESTART_WINDOW_MS = 60_000;
/** First restart delay, doubled for each recent crash of the same worker. */
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** How long workers get to exit after the supervisor forwards a signal (they hard-exit at 5 s themselves). */
export const WORKERS_EXIT_MS = 8_000;

const LISTENING = /^agentchat listening on wss?:\/\/\S+$/;

/** `--workers N|auto` as a count; `auto` is one per core. */
export function parseWorkers(value: unknown): number {
  if (value === 'auto') return availableParallelism();
  if (value === true || value === '') throw new UsageError('--workers needs a count or auto, e.g. --workers 4 or --workers auto (one per core)');
  return parseNumber(value, '--workers', { integer: true, min: 1, max: MAX_WORKERS });
}

/** serve's argv (after `serve`) less --workers and its value: what each worker runs. */
export function workerArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--workers') i++;
    else if (!args[i].startsWith('--workers=')) out.push(args[i]);
  }
  return out;
}

/**
 * Bind host:port exclusively and release it: a busy port is refused here, as a single relay
 * refuses it, instead of joining whatever else shares it; port 0 becomes a free port.
 */
export async function freeListenPort(host: string, port: number): Promise<number> {
  const server = createServer();
  try {
    server.listen({ host, port, exclusive: true });
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : `the address is not available (${code ?? String(err)})`;
    throw new Error(`cannot listen on ${host}:${port}: ${why}; choose another --port`);
  } finally {
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface SuperviseOptions {
  count: number;
  host: string;
  port: number;
  /** serve's argv after `serve`, --workers already removed. */
  args: readonly string[];
  /** The CLI script to run (process.argv[1]). */
  cli: string;
}

interface Slot {
  id: number;
  child: ChildProcess | null;
  listening: boolean;
  /** Times this worker died recently (ms timestamps within the restart window). */
  crashes: number[];
  timer: NodeJS.Timeout | null;
}

/** Run the workers until a signal stops them (exit 0) or one keeps crashing (exit 1). */
export async function supervise(options: SuperviseOptions): Promise<number> {
  const port = await freeListenPort(options.host, options.port);
  const slots: Slot[] = Array.from({ length: options.count }, (_, i) => ({ id: i + 1, child: null, listening: false, crashes: [], timer: null }));
  let stopping = false;
  let announced = false;
  let exitCode: number = EXIT.OK;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const start = (slot: Slot): void => {
    slot.timer = null;
    slot.listening = false;
    const child = spawn(process.execPath, [...process.execArgv, options.cli, 'serve', ...options.args], {
      env: { ...process.env, [WORKER_PORT_ENV]: String(port), [WORKER_ID_ENV]: String(slot.id) },
      // Own process group: a terminal's Ctrl-C reaches the supervisor only, which forwards it once.
      // IPC: a worker notices its supervisor's death (even kill -9) as a disconnect and stops.
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      detached: true,
    });
    slot.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!slot.listening && LISTENING.test(line)) {
        slot.listening = true;
        if (!announced && slots.every((s) => s.listening)) {
          announced = true;
          process.stdout.write(`${line}\n`);
        } else if (announced) {
          status(`agentchat: worker ${slot.id} (pid ${child.pid}) listening again`);
        }
        return;
      }
      process.stdout.write(`${line}\n`);
    });
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      onExit(slot, child, code, signal);
    };
    child.once('exit', end);
    // A spawn that failed (no pid) may end without an exit event.
    child.once('error', (err) => {
      if (child.pid !== undefined) return;
      status(`agentchat: cannot start worker ${slot.id}: ${err.message}`);
      end(1, null);
    });
  };

  const onExit = (slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void => {
    if (slot.child === child) slot.child = null;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    if (stopping) {
      // stop() awaits every exit; a worker that did not close cleanly makes the supervisor's exit non-zero.
      if (code !== 0) exitCode = EXIT.FAILED;
      return;
    }
    // Every worker runs the same command: one that cannot start the first time will not start the next.
    if (!announced) return giveUp(`agentchat: worker ${slot.id} (pid ${child.pid}) ${how} before it listened; not starting (its log above says why)`);
    const now = Date.now();
    slot.crashes = [...slot.crashes.filter((t) => now - t < RESTART_WINDOW_MS), now];
    const atStart = slot.listening ? '' : ' before it listened';
    if (slot.crashes.length > MAX_RESTARTS_PER_MINUTE) {
      return giveUp(`agentchat: worker ${slot.id} (pid ${child.pid}) ${how}${atStart}, its ${slot.crashes.length}th crash within a minute; giving up (its log above says why)`);
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (slot.crashes.length - 1));
    status(`agentchat: worker ${slot.id} (pid ${child.pid}) ${how}${atStart}; restarting it in ${delay} ms (restart ${slot.crashes.length} of at most ${MAX_RESTARTS_PER_MINUTE} a minute)`);
    slot.timer = setTimeout(() => start(slot), delay);
  };

  const giveUp = (line: string): void => {
    status(line);
    void stop(null).then(() => resolveDone(EXIT.FAILED));
  };

  /** Stop restarting, pass `signal` (SIGTERM when null) to every worker, SIGKILL what is left after WORKERS_EXIT_MS. */
  const stop = async (signal: NodeJS.Signals | null): Promise<void> => {
    stopping = true;
    for (const slot of slots) {
      if (slot.timer !== null) clearTimeout(slot.timer);
      slot.timer = null;
    }
    const live = slots.map((s) => s.child).filter((c): c is ChildProcess => c !== null && c.exitCode === null && c.signalCode === null);
    const exited = Promise.all(live.map((c) => once(c, 'exit')));
    for (const child of live) child.kill(signal ?? 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), WORKERS_EXIT_MS)));
    if ((await Promise.race([exited, late])) === 'late') {
      status(`agentchat: workers still running ${WORKERS_EXIT_MS} ms after ${signal ?? 'SIGTERM'}; killing them`);
      exitCode = EXIT.FAILED;
      for (const child of live) child.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  };

  // Handlers before the first worker: a signal during start-up must reach the workers too.
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    status(`agentchat: ${signal}, stopping ${options.count} workers`);
    void stop(signal).then(() => resolveDone(exitCode));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  for (const slot of slots) start(slot);
  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}
