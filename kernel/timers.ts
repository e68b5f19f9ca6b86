/** Plugin timers: unref'd (never keep the process up), guarded (a throw is logged), all cleared on close. */
import type { PluginFailure } from './hooks.js';

export class Timers {
  private readonly timers = new Set<NodeJS.Timeout>();
  constructor(private readonly onFailure: PluginFailure) {}

  every(ms: number, fn: () => void, plugin: string): void {
    const timer = setInterval(() => this.run(fn, plugin), ms);
    timer.unref();
    this.timers.add(timer);
  }

  after(ms: number, fn: () => void, plugin: string): () => void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.run(fn, plugin);
    }, ms);
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private run(fn: () => void, plugin: string): void {
    try {
      fn();
    } catch (err) {
      this.onFailure(plugin, 'timer', err);
    }
  }
}
