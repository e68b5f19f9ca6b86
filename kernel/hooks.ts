/**
 * The hook runner. Hooks run in registration order; a RelayError (thrown or
 * returned) refuses, anything else thrown is a plugin bug that is logged and
 * contained. Arity-specific runners keep the per-frame path free of closures
 * and argument arrays.
 */
import { ErrorCode } from '../protocol/errors.js';
import { RelayError, type HookMap, type HookName } from './types.js';

interface Entry<F> {
  fn: F;
  plugin: string;
}

export type PluginFailure = (plugin: string, where: string, err: unknown) => void;

/** Answer given to a client when a plugin failed while handling its frame. */
export const internalError = (): RelayError =>
  new RelayError(ErrorCode.INTERNAL_ERROR, 'the relay failed to process this request and did not act on it; try again later');

type AnyHook = (a?: never, b?: never, c?: never) => unknown;

export class HookRegistry {
  private readonly lists = new Map<HookName, Entry<AnyHook>[]>();
  constructor(private readonly onFailure: PluginFailure) {}

  add<K extends HookName>(point: K, fn: HookMap[K], plugin: string): void {
    let list = this.lists.get(point);
    if (!list) this.lists.set(point, (list = []));
    list.push({ fn: fn as unknown as AnyHook, plugin });
  }

  has(point: HookName): boolean {
    return (this.lists.get(point)?.length ?? 0) > 0;
  }

  /** Run a "before" point; returns the refusal, if any. */
  refuse<K extends HookName>(point: K, a: Parameters<HookMap[K]>[0], b?: Parameters<HookMap[K]>[1]): RelayError | null {
    const list = this.lists.get(point);
    if (list === undefined) return null;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i];
      try {
        const result = (entry.fn as (a: unknown, b: unknown) => unknown)(a, b);
        if (result instanceof RelayError) return result;
      } catch (err) {
        if (err instanceof RelayError) return err;
        this.onFailure(entry.plugin, point, err);
        return internalError();
      }
    }
    return null;
  }

  /** Run an observing point; failures are logged, never propagated. */
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
        (entry.fn as (a: unknown, b: unknown, c: unknown) => unknown)(a, b, c);
      } catch (err) {
        this.onFailure(entry.plugin, point, err);
      }
    }
  }
}
