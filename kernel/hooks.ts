/**
 * The hook runner. Hooks run in registration order; a RelayError (returned, thrown or
 * resolved) refuses, anything else thrown is a plugin bug that is logged and contained.
 * A veto hook that returns a promise switches the rest of that point's hooks to an async
 * chain under a timeout that fails closed; as long as every hook answers at once the
 * runner makes no promise, closure or argument array (the per-frame path pays nothing).
 */
import { ErrorCode } from '../protocol/errors.js';
import { RelayError, type HookMap, type HookName, type VetoPoint } from './types.js';

interface Entry {
  fn: (a?: unknown, b?: unknown, c?: unknown) => unknown;
  plugin: string;
}

export type PluginFailure = (plugin: string, where: string, err: unknown) => void;

/** What a veto point decided: null (go on), a refusal, or a promise of either. */
export type Decision = RelayError | null | Promise<RelayError | null>;

/** Answer given to a client when a plugin failed while handling its frame. */
export const internalError = (): RelayError =>
  new RelayError(ErrorCode.INTERNAL_ERROR, 'the relay failed to process this request and did not act on it; try again later');

/** Answer given when an async hook did not settle in time: nothing was done. */
export const hookTimeout = (plugin: string, point: string, ms: number): RelayError =>
  new RelayError(ErrorCode.UNAVAILABLE, `the relay's ${plugin} check (${point}) did not answer within ${ms} ms, so nothing was done; try again later`);

export interface HookRunnerOptions {
  /** How long an async veto hook may take before it fails closed. */
  timeoutMs: number;
  onFailure: PluginFailure;
  /** Counted and logged by the kernel. */
  onTimeout: (plugin: string, point: string) => void;
}

/**
 * `pending`, or `onTimeout()` if it has not settled within `ms`: the one bound every async
 * plugin answer is held to (veto hooks, HTTP routes). A rejection passes through.
 */
export function withTimeout<T>(pending: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => resolve(onTimeout()), ms);
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export function isPromise(value: unknown): value is Promise<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class HookRegistry {
  private readonly lists = new Map<HookName, Entry[]>();
  constructor(private readonly options: HookRunnerOptions) {}

  add<K extends HookName>(point: K, fn: HookMap[K], plugin: string): void {
    let list = this.lists.get(point);
    if (!list) this.lists.set(point, (list = []));
    list.push({ fn: fn as Entry['fn'], plugin });
  }

  has(point: HookName): boolean {
    return (this.lists.get(point)?.length ?? 0) > 0;
  }

  /** Run a veto point: null when every hook let it pass, else the refusal, or a promise when a hook went async. */
  refuse<K extends VetoPoint>(
    point: K,
    a: Parameters<HookMap[K]>[0],
    b?: Parameters<HookMap[K]>[1],
    c?: Parameters<HookMap[K]>[2],
  ): Decision {
    const list = this.lists.get(point);
    if (list === undefined) return null;
    return this.runFrom(point, list, 0, a, b, c);
  }

  private runFrom(point: VetoPoint, list: Entry[], start: number, a: unknown, b: unknown, c: unknown): Decision {
    for (let i = start; i < list.length; i++) {
      const entry = list[i];
      let result: unknown;
      try {
        result = entry.fn(a, b, c);
      } catch (err) {
        return this.thrown(entry.plugin, point, err);
      }
      if (result === undefined) continue;
      if (result instanceof RelayError) return result;
      if (isPromise(result)) return this.settle(point, list, i, result, a, b, c);
    }
    return null;
  }

  /** The async chain: wait for hook `i` (bounded), then run the rest the same way. */
  private async settle(point: VetoPoint, list: Entry[], i: number, pending: Promise<unknown>, a: unknown, b: unknown, c: unknown): Promise<RelayError | null> {
    const plugin = list[i].plugin;
    let verdict: unknown;
    try {
      const ms = this.options.timeoutMs;
      verdict = await withTimeout(pending, ms, () => {
        this.options.onTimeout(plugin, point);
        return hookTimeout(plugin, point, ms);
      });
    } catch (err) {
      return this.thrown(plugin, point, err);
    }
    if (verdict instanceof RelayError) return verdict;
    return this.runFrom(point, list, i + 1, a, b, c);
  }

  private thrown(plugin: string, point: string, err: unknown): RelayError {
    if (err instanceof RelayError) return err;
    this.options.onFailure(plugin, point, err);
    return internalError();
  }

  /** Run an observing point; failures are logged, never propagated, results ignored. */
  notify<K extends HookName>(
    point: K,
    a?: Parameters<HookMap[K]>[0],
    b?: Parameters<HookMap[K]>[1],
    c?: Parameters<HookMap[K]>[2],
  ): void {
    const list = this.lists.get(point);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i];
      try {
        const result = entry.fn(a, b, c);
        // An async observer's rejection is a plugin bug like a throw: logged, never unhandled.
        if (isPromise(result)) result.then(undefined, (err: unknown) => this.options.onFailure(entry.plugin, point, err));
      } catch (err) {
        this.options.onFailure(entry.plugin, point, err);
      }
    }
  }

  /** Run every `close` hook and wait for all of them, at most `ms`. Failures are logged. */
  async closeAll(ms: number): Promise<void> {
    const list = this.lists.get('close') ?? [];
    const waits: Promise<unknown>[] = [];
    for (const entry of list) {
      try {
        const result = entry.fn();
        if (isPromise(result)) waits.push(result.then(undefined, (err: unknown) => this.options.onFailure(entry.plugin, 'close', err)));
      } catch (err) {
        this.options.onFailure(entry.plugin, 'close', err);
      }
    }
    if (waits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.options.onFailure('kernel', 'close', new Error(`close hooks did not finish within ${ms} ms`));
        resolve();
      }, ms);
    });
    await Promise.race([Promise.all(waits), deadline]);
    clearTimeout(timer);
  }
}
