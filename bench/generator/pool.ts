/** The bench side of the generator: forks worker processes and talks to them over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import type { Command, ProgressEvent, Reply } from './ipc.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class Worker {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  onProgress: ((e: ProgressEvent) => void) | null = null;

  constructor(readonly index: number, readonly proc: ChildProcess) {
    proc.on('message', (m: Reply | ProgressEvent) => {
      if ('ev' in m) {
        this.onProgress?.(m);
        return;
      }
      const p = this.pending.get(m.reqId);
      if (!p) return;
      this.pending.delete(m.reqId);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`worker ${index}: ${m.error}`));
    });
    proc.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`worker ${index} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  request<T>(cmd: Command, timeoutMs = 120_000): Promise<T> {
    const reqId = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        reject(new Error(`worker ${this.index}: ${cmd.op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(reqId, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ ...cmd, reqId });
    });
  }

  /** Fire and forget (credit updates). */
  tell(cmd: Command): void {
    if (this.proc.connected) this.proc.send(cmd);
  }
}

export class Pool {
  readonly workers: Worker[];

  constructor(script: string, count: number) {
    this.workers = Array.from({ length: count }, (_, i) => {
      // execArgv: [] so workers run the bundled JS without the tsx loader the bench runs under.
      const proc = fork(script, [], { execArgv: ['--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new Worker(i, proc);
    });
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  all<T>(cmd: Command, timeoutMs?: number): Promise<T[]> {
    return Promise.all(this.workers.map((w) => w.request<T>(cmd, timeoutMs)));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.proc.exitCode !== null || w.proc.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              w.proc.kill('SIGKILL');
              resolve();
            }, 3000);
            w.proc.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.proc.disconnect();
          }),
      ),
    );
  }

  kill(): void {
    for (const w of this.workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  }
}
