/**
 * The part of Node's EventEmitter that AgentChatClient and its users call, for browsers,
 * where node:events does not exist: the browser build maps node:events here. Listeners
 * run synchronously in the order added, as in Node.
 */
/** Listeners are kept untyped: each event's own type is checked where it is added. */
type Listener = (...args: unknown[]) => void;
type EventMap<T> = { [K in keyof T]: unknown[] };

interface Entry {
  fn: Listener;
  once: boolean;
}

export class EventEmitter<T extends EventMap<T> = Record<string, unknown[]>> {
  private readonly byEvent = new Map<PropertyKey, Entry[]>();

  on<K extends keyof T>(event: K, listener: (...args: T[K]) => void): this {
    return this.add(event, listener as unknown as Listener, false);
  }

  addListener<K extends keyof T>(event: K, listener: (...args: T[K]) => void): this {
    return this.add(event, listener as unknown as Listener, false);
  }

  once<K extends keyof T>(event: K, listener: (...args: T[K]) => void): this {
    return this.add(event, listener as unknown as Listener, true);
  }

  off<K extends keyof T>(event: K, listener: (...args: T[K]) => void): this {
    const entries = this.byEvent.get(event);
    const i = entries?.findIndex((e) => e.fn === (listener as unknown as Listener)) ?? -1;
    if (entries !== undefined && i !== -1) entries.splice(i, 1);
    return this;
  }

  removeListener<K extends keyof T>(event: K, listener: (...args: T[K]) => void): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: keyof T): this {
    if (event === undefined) this.byEvent.clear();
    else this.byEvent.delete(event);
    return this;
  }

  listenerCount(event: keyof T): number {
    return this.byEvent.get(event)?.length ?? 0;
  }

  emit<K extends keyof T>(event: K, ...args: T[K]): boolean {
    const entries = this.byEvent.get(event);
    if (entries === undefined || entries.length === 0) {
      // As in Node: an 'error' nobody listens to is thrown, never silently lost.
      if (event === 'error') throw args[0] instanceof Error ? args[0] : new Error(`unhandled error event: ${JSON.stringify(args[0])}`);
      return false;
    }
    for (const entry of [...entries]) {
      if (entry.once) this.off(event, entry.fn as unknown as (...args: T[K]) => void);
      entry.fn(...args);
    }
    return true;
  }

  private add(event: PropertyKey, fn: Listener, once: boolean): this {
    let entries = this.byEvent.get(event);
    if (entries === undefined) this.byEvent.set(event, (entries = []));
    entries.push({ fn, once });
    return this;
  }
}
