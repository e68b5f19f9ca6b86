/**
 * The policy child process and its line protocol (docs/POLICY.md): one JSON request
 * per line on its stdin, one JSON answer per line on its stdout, matched by id, in
 * any order. It fails closed: no process, no answer in time, a garbled answer or too
 * many decisions in flight all refuse with UNAVAILABLE. A child that exits is
 * restarted with backoff; its stderr goes to the relay log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ErrorCode } from '../../protocol/errors.js';
import { RelayError, type Logger } from '../../kernel/types.js';

export interface PolicyRequest {
  point: string;
  ip: string;
  session: { agent_id: string | null; name: string | null; pubkey: string | null; verified: boolean };
  frame: Readonly<Record<string, unknown>>;
}

export interface PolicyProcessOptions {
  /** A shell command line, run with `sh -c`. */
  command: string;
  timeoutMs: number;
  /** Decisions waiting for an answer at most; past it, new ones fail closed at once. */
  maxInFlight: number;
  logger: Logger;
}

interface Waiting {
  resolve: (verdict: RelayError | undefined) => void;
  timer: NodeJS.Timeout;
}

/** Codes a policy may answer with: upper-case, like the protocol's own. */
const CODE = /^[A-Z][A-Z0-9_]{0,39}$/;
const MAX_MESSAGE_CHARS = 300;
const MAX_LOGGED_LINE_CHARS = 500;
/** Restart backoff: doubling from the first, capped. */
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A child that ran this long before it exited starts over from the first backoff step. */
const HEALTHY_RUN_MS = 30_000;
/** Log lines from the child per window; the rest are counted. */
const STDERR_LINES_PER_WINDOW = 50;
const STDERR_WINDOW_MS = 10_000;

export class PolicyProcess {
  private child: ChildProcess | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private restartMs = RESTART_FIRST_MS;
  private restartTimer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private closed = false;
  private stderrWindow = { since: 0, lines: 0, suppressed: 0 };

  constructor(private readonly options: PolicyProcessOptions) {}

  start(): void {
    if (this.closed) return;
    const child = spawn('sh', ['-c', this.options.command], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    child.stdin!.on('error', () => {
      // EPIPE when the child died: its exit handler fails the waiting decisions.
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.answer(line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr(line));
    child.on('error', (err) => this.options.logger.error('policy_error', { command: this.options.command, error: err.message }));
    child.on('exit', (code, signal) => this.exited(child, code, signal));
    this.options.logger.info('policy_start', { command: this.options.command, pid: child.pid });
  }

  /** Ask the policy; resolves with undefined (accept) or the refusal. Never rejects. */
  decide(request: PolicyRequest): Promise<RelayError | undefined> {
    const child = this.child;
    if (child === null || child.stdin === null || !child.stdin.writable) {
      return Promise.resolve(unavailable('the relay\'s policy process is not running (it is being restarted)'));
    }
    if (this.waiting.size >= this.options.maxInFlight) {
      return Promise.resolve(unavailable(`the relay's policy process has ${this.waiting.size} decisions waiting`));
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        this.options.logger.warn('policy_timeout', { id, point: request.point, timeout_ms: this.options.timeoutMs });
        resolve(unavailable(`the relay's policy did not answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      this.waiting.set(id, { resolve, timer });
      child.stdin!.write(JSON.stringify({ id, ...request }) + '\n');
    });
  }

  /** Stop the child for good; waiting decisions fail closed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const child = this.child;
    this.failAll('the relay is shutting down');
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 1_000);
    await gone;
    clearTimeout(kill);
  }

  private answer(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.garbage(line, 'not JSON');
      return;
    }
    const id = typeof parsed === 'object' && parsed !== null ? (parsed as { id?: unknown }).id : undefined;
    const entry = typeof id === 'number' ? this.waiting.get(id) : undefined;
    if (entry === undefined) {
      this.garbage(line, 'no decision is waiting for this id');
      return;
    }
    this.waiting.delete(id as number);
    clearTimeout(entry.timer);
    entry.resolve(verdictOf(parsed as Record<string, unknown>, (why) => this.garbage(line, why)));
  }

  private garbage(line: string, why: string): void {
    this.options.logger.warn('policy_bad_answer', { why, line: truncate(line, MAX_LOGGED_LINE_CHARS) });
  }

  private stderr(line: string): void {
    const now = Date.now();
    const w = this.stderrWindow;
    if (now - w.since > STDERR_WINDOW_MS) {
      if (w.suppressed > 0) this.options.logger.warn('policy_stderr_not_logged', { count: w.suppressed });
      this.stderrWindow = { since: now, lines: 0, suppressed: 0 };
    }
    if (this.stderrWindow.lines++ >= STDERR_LINES_PER_WINDOW) {
      this.stderrWindow.suppressed++;
      return;
    }
    this.options.logger.warn('policy_stderr', { line: truncate(line, MAX_LOGGED_LINE_CHARS) });
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    this.failAll('the relay\'s policy process exited before answering');
    if (this.closed) return;
    if (Date.now() - this.startedAt > HEALTHY_RUN_MS) this.restartMs = RESTART_FIRST_MS;
    this.options.logger.error('policy_exit', { command: this.options.command, code, signal, restart_in_ms: this.restartMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.start();
    }, this.restartMs);
    this.restartTimer.unref();
    this.restartMs = Math.min(RESTART_MAX_MS, this.restartMs * 2);
  }

  private failAll(why: string): void {
    for (const entry of this.waiting.values()) {
      clearTimeout(entry.timer);
      entry.resolve(unavailable(why));
    }
    this.waiting.clear();
  }
}

/** accept → undefined; reject → the policy's refusal; anything else fails closed. */
function verdictOf(answer: Record<string, unknown>, bad: (why: string) => void): RelayError | undefined {
  if (answer.action === 'accept') return undefined;
  if (answer.action === 'reject') {
    const code = typeof answer.code === 'string' && CODE.test(answer.code) ? answer.code : 'POLICY_REJECTED';
    const message = typeof answer.message === 'string' && answer.message !== '' ? truncate(answer.message, MAX_MESSAGE_CHARS) : 'refused by this relay\'s policy';
    return new RelayError(code, message);
  }
  bad('action is neither "accept" nor "reject"');
  return unavailable('the relay\'s policy gave an answer it could not read');
}

function unavailable(why: string): RelayError {
  return new RelayError(ErrorCode.UNAVAILABLE, `${why}, so nothing was done; try again later`);
}

function truncate(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + '…' : text;
}
