/** The in-memory store: no disk at all (`--memory`, tests, the bench). Same semantics as SQLite, gone on exit. */
import type { LogEntry, Retention, Store, StoredValue, StoreNamespace } from './types.js';

interface Stream {
  entries: Array<LogEntry & { bytes: number }>;
  lastSeq: number;
}

class MemoryNamespace implements StoreNamespace {
  private readonly records = new Map<string, string>();
  private readonly logs = new Map<string, Stream>();

  async get<T extends StoredValue>(key: string): Promise<T | undefined> {
    const text = this.records.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
  async put(key: string, value: StoredValue): Promise<void> {
    // Stored as text, as SQLite does: a caller that mutates its object afterwards changes nothing here.
    this.records.set(key, JSON.stringify(value));
  }
  async delete(key: string): Promise<void> {
    this.records.delete(key);
  }
  async entries<T extends StoredValue>(prefix = ''): Promise<Array<[string, T]>> {
    return [...this.records].filter(([key]) => key.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, text]) => [key, JSON.parse(text) as T]);
  }

  async append(stream: string, seq: number, value: StoredValue): Promise<void> {
    this.appendBehind(stream, seq, value);
  }
  appendBehind(stream: string, seq: number, value: StoredValue): void {
    let log = this.logs.get(stream);
    if (log === undefined) this.logs.set(stream, (log = { entries: [], lastSeq: 0 }));
    if (seq <= log.lastSeq) throw new RangeError(`append to ${stream}: seq ${seq} is not after ${log.lastSeq}`);
    const text = JSON.stringify(value);
    log.entries.push({ seq, at: Date.now(), value: JSON.parse(text) as StoredValue, bytes: Buffer.byteLength(text) });
    log.lastSeq = seq;
  }
  async range<T extends StoredValue>(stream: string, after: number, limit: number): Promise<Array<LogEntry<T>>> {
    const entries = this.logs.get(stream)?.entries ?? [];
    return entries.filter((e) => e.seq > after).slice(0, limit).map(({ seq, at, value }) => ({ seq, at, value: value as T }));
  }
  async tail<T extends StoredValue>(stream: string, limit: number): Promise<Array<LogEntry<T>>> {
    const entries = this.logs.get(stream)?.entries ?? [];
    return entries.slice(Math.max(0, entries.length - limit)).map(({ seq, at, value }) => ({ seq, at, value: value as T }));
  }
  async lastSeq(stream: string): Promise<number> {
    return this.logs.get(stream)?.lastSeq ?? 0;
  }
  async streams(): Promise<string[]> {
    return [...this.logs].filter(([, log]) => log.entries.length > 0).map(([name]) => name);
  }
  dropBefore(stream: string, seq: number): void {
    const log = this.logs.get(stream);
    if (!log) return;
    const keep = log.entries.findIndex((e) => e.seq >= seq);
    if (keep === -1) log.entries = [];
    else if (keep > 0) log.entries.splice(0, keep);
  }
  async dropStream(stream: string): Promise<void> {
    const log = this.logs.get(stream);
    if (log) log.entries = [];
  }
  async trim(stream: string, retention: Retention): Promise<void> {
    const log = this.logs.get(stream);
    if (!log) return;
    const keep = keptFrom(log.entries, retention, Date.now());
    if (keep > 0) log.entries = log.entries.slice(keep);
  }
}

/** Index of the first entry retention keeps (entries oldest first). */
export function keptFrom(entries: ReadonlyArray<{ at: number; bytes: number }>, retention: Retention, now: number): number {
  let start = 0;
  if (retention.maxEntries !== undefined) start = Math.max(start, entries.length - retention.maxEntries);
  if (retention.maxAgeMs !== undefined) {
    while (start < entries.length && now - entries[start].at > retention.maxAgeMs) start++;
  }
  if (retention.maxBytes !== undefined) {
    let bytes = 0;
    let i = entries.length - 1;
    for (; i >= start; i--) {
      bytes += entries[i].bytes;
      if (bytes > retention.maxBytes) break;
    }
    start = Math.max(start, i + 1);
  }
  return start;
}

export function memoryStore(): Store {
  const namespaces = new Map<string, MemoryNamespace>();
  return {
    kind: 'memory',
    location: 'memory (nothing is kept across restarts)',
    namespace(name) {
      let ns = namespaces.get(name);
      if (!ns) namespaces.set(name, (ns = new MemoryNamespace()));
      return ns;
    },
    flush: async () => {},
    close: async () => {},
    health: () => null,
  };
}
