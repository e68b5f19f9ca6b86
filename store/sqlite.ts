/**
 * The embedded store: one SQLite file (better-sqlite3, WAL) under the data dir. Records
 * and synchronous appends are committed before their promise resolves; appendBehind
 * batches into one transaction per flush interval, the stated loss window on a crash.
 * Every failure a hoster must act on (a data dir it cannot write, a corrupt or newer
 * file, a full disk) is a StoreError with one line saying what to do.
 */
import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, type MigratableDatabase } from './schema.js';
import { StoreError, type LogEntry, type Retention, type Store, type StoredValue, type StoreNamespace, type StoreObserver, type StoreOp } from './types.js';

export const DATA_FILE = 'agentchat.db';
/** Operations that only remove data. */
const FREES_ROOM: ReadonlySet<StoreOp> = new Set(['delete', 'drop', 'trim']);
/** How often a failing store tries again (a held batch, or a probe). */
const RETRY_MS = 1_000;
/** More than a page (4 KiB), so the probe needs space the way an append does. */
const PROBE_BYTES = 16 * 1024;

export interface SqliteStoreOptions {
  /** The directory holding the data file; made if missing. */
  dataDir: string;
  /** How long appendBehind may hold entries before writing them (default 100 ms). */
  flushMs?: number;
  /** Held entries past which a flush happens at once (default 1,000). */
  flushEntries?: number;
  /**
   * Runs once the file is open and migrated, with its connection: a PRAGMA of the
   * hoster's (e.g. `max_page_count`, a cap on the file's size: past it writes fail as
   * on a full disk, which is how the tests make one).
   */
  tune?: (db: Pick<MigratableDatabase, 'pragma'>) => void;
}

/** A write held for the next batch: an append, or (text null) dropping the entries before `seq`. */
interface Pending {
  ns: string;
  stream: string;
  seq: number;
  at: number;
  text: string | null;
}

/** Open (or create) the data file, migrating its schema; throws StoreError with the fix. */
export function sqliteStore(options: SqliteStoreOptions): Store {
  const dir = options.dataDir;
  const file = join(dir, DATA_FILE);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StoreError(`cannot create the data dir ${dir}: ${(err as Error).message}; choose another --data-dir (or run with --memory to keep nothing)`, { cause: err });
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new StoreError(`the data dir ${dir} is not writable by this user; fix its permissions or choose another --data-dir`);
  }
  let db: Database.Database;
  try {
    db = new Database(file);
    // First: another relay opening the same file holds its lock for a moment.
    db.pragma('busy_timeout = 2000');
    db.pragma('journal_mode = WAL');
    // FULL: a commit is on disk before the relay acknowledges what it committed.
    db.pragma('synchronous = FULL');
    migrate(db, file);
    options.tune?.(db);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(describe(err, file), { cause: err });
  }

  const q = {
    get: db.prepare<[string, string], { value: string }>('SELECT value FROM records WHERE ns = ? AND key = ?'),
    put: db.prepare('INSERT INTO records (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value'),
    del: db.prepare('DELETE FROM records WHERE ns = ? AND key = ?'),
    entries: db.prepare<[string, string, string], { key: string; value: string }>(
      "SELECT key, value FROM records WHERE ns = ? AND key >= ? AND key < ? ORDER BY key"),
    append: db.prepare('INSERT INTO logs (ns, stream, seq, at, bytes, value) VALUES (?, ?, ?, ?, ?, ?)'),
    head: db.prepare(`INSERT INTO log_heads (ns, stream, last_seq) VALUES (?, ?, ?)
      ON CONFLICT (ns, stream) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)`),
    range: db.prepare<[string, string, number, number], { seq: number; at: number; value: string }>(
      'SELECT seq, at, value FROM logs WHERE ns = ? AND stream = ? AND seq > ? ORDER BY seq LIMIT ?'),
    tail: db.prepare<[string, string, number], { seq: number; at: number; value: string }>(
      'SELECT seq, at, value FROM (SELECT seq, at, value FROM logs WHERE ns = ? AND stream = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
    lastSeq: db.prepare<[string, string], { last_seq: number }>('SELECT last_seq FROM log_heads WHERE ns = ? AND stream = ?'),
    streams: db.prepare<[string], { stream: string }>('SELECT DISTINCT stream FROM logs WHERE ns = ?'),
    drop: db.prepare('DELETE FROM logs WHERE ns = ? AND stream = ?'),
    dropBefore: db.prepare('DELETE FROM logs WHERE ns = ? AND stream = ? AND seq < ?'),
    trimCount: db.prepare(`DELETE FROM logs WHERE ns = ? AND stream = ? AND seq <= (
      SELECT seq FROM logs WHERE ns = ? AND stream = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`),
    trimAge: db.prepare('DELETE FROM logs WHERE ns = ? AND stream = ? AND at < ?'),
    trimBytes: db.prepare(`DELETE FROM logs WHERE ns = ? AND stream = ? AND seq <= (
      SELECT seq FROM (SELECT seq, SUM(bytes) OVER (ORDER BY seq DESC) AS total FROM logs WHERE ns = ? AND stream = ?)
      WHERE total > ? ORDER BY seq DESC LIMIT 1)`),
  };

  let pending: Pending[] = [];
  let failure: string | null = null;
  let closed = false;
  const flushEntries = options.flushEntries ?? 1_000;
  const writeBatch = db.transaction((batch: Pending[]) => {
    for (const p of batch) {
      if (p.text === null) {
        q.dropBefore.run(p.ns, p.stream, p.seq);
        continue;
      }
      q.append.run(p.ns, p.stream, p.seq, p.at, Buffer.byteLength(p.text), p.text);
      q.head.run(p.ns, p.stream, p.seq);
    }
  });
  const observers: StoreObserver[] = [];
  /** Entries of failed batches dropped because more than `maxHeld` waited: said in health() and the next error. */
  let dropped = 0;
  const maxHeld = flushEntries * 10;
  /** Runs a write, timed for the observers; a failure becomes a StoreError and marks the store unhealthy until a write succeeds. */
  const write = <T>(what: string, op: StoreOp, fn: () => T): T => {
    const started = performance.now();
    try {
      const result = fn();
      // Only a write that needs room proves the store healthy again: a delete succeeds on a full disk too.
      if (!FREES_ROOM.has(op)) failure = null;
      for (const observer of observers) observer(op, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      failure = describe(err, file);
      const error = new StoreError(`${what}: ${failure}`, { cause: err, diskFull: (err as { code?: string }).code === 'SQLITE_FULL' });
      for (const observer of observers) observer(op, (performance.now() - started) / 1000, error);
      throw error;
    }
  };
  const flushNow = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    try {
      write('writing history behind', 'flush', () => writeBatch(batch));
      dropped = 0;
    } catch (err) {
      // Held and retried, not lost, until space returns; past maxHeld the oldest go, and health() says how many.
      pending = batch.concat(pending);
      if (pending.length > maxHeld) {
        dropped += pending.length - maxHeld;
        pending = pending.slice(pending.length - maxHeld);
      }
      throw err;
    }
  };
  /** Reads see what was written behind; while the store is failing they see what is on disk (the held entries are retried by the timer). */
  const flushForRead = () => {
    if (failure !== null) return;
    try {
      flushNow();
    } catch {
      // Reported to the observers and through health(); the read goes on with what is on disk.
    }
  };
  /** While failing with nothing to write, a write that needs a fresh page and a WAL frame tells when space is back. */
  const probe = db.transaction(() => {
    q.put.run('_store', 'probe', 'x'.repeat(PROBE_BYTES));
    q.del.run('_store', 'probe');
  });
  let lastTry = 0;
  const tick = () => {
    const now = Date.now();
    // A failing disk is retried once a second, not every flush: a batch that fails costs its whole write.
    if (failure !== null && now - lastTry < RETRY_MS) return;
    lastTry = now;
    try {
      if (failure !== null && pending.length === 0) write('checking the data file', 'probe', () => probe());
      else flushNow();
    } catch {
      // Marked unhealthy (readyz says why), reported to the observers; retried on a later tick.
    }
  };
  const timer = setInterval(tick, options.flushMs ?? 100);
  timer.unref();

  const namespace = (ns: string): StoreNamespace => ({
    async get<T extends StoredValue>(key: string) {
      const row = q.get.get(ns, key);
      return row === undefined ? undefined : (JSON.parse(row.value) as T);
    },
    async put(key, value) {
      write(`saving ${ns} ${key}`, 'put', () => q.put.run(ns, key, JSON.stringify(value)));
    },
    async delete(key) {
      write(`deleting ${ns} ${key}`, 'delete', () => q.del.run(ns, key));
    },
    async entries<T extends StoredValue>(prefix = '') {
      return q.entries.all(ns, prefix, prefix + '\uffff').map((r) => [r.key, JSON.parse(r.value) as T] as [string, T]);
    },
    async append(stream, seq, value) {
      flushNow();
      write(`appending to ${ns} ${stream}`, 'append', () => writeBatch([{ ns, stream, seq, at: Date.now(), text: JSON.stringify(value) }]));
    },
    dropBefore(stream, seq) {
      if (!closed) pending.push({ ns, stream, seq, at: 0, text: null });
    },
    appendBehind(stream, seq, value) {
      if (closed) return;
      pending.push({ ns, stream, seq, at: Date.now(), text: JSON.stringify(value) });
      if (pending.length >= flushEntries && failure === null) {
        try {
          flushNow();
        } catch {
          // As in the timer: reported through health().
        }
      }
    },
    async range<T extends StoredValue>(stream: string, after: number, limit: number) {
      flushForRead();
      return q.range.all(ns, stream, after, limit).map(entry<T>);
    },
    async tail<T extends StoredValue>(stream: string, limit: number) {
      flushForRead();
      return q.tail.all(ns, stream, limit).map(entry<T>);
    },
    async lastSeq(stream) {
      flushForRead();
      return q.lastSeq.get(ns, stream)?.last_seq ?? 0;
    },
    async streams() {
      flushForRead();
      return q.streams.all(ns).map((r) => r.stream);
    },
    async dropStream(stream) {
      flushNow();
      write(`dropping ${ns} ${stream}`, 'drop', () => q.drop.run(ns, stream));
    },
    async trim(stream: string, retention: Retention) {
      flushNow();
      write(`trimming ${ns} ${stream}`, 'trim', () => {
        if (retention.maxEntries !== undefined) q.trimCount.run(ns, stream, ns, stream, retention.maxEntries);
        if (retention.maxAgeMs !== undefined) q.trimAge.run(ns, stream, Date.now() - retention.maxAgeMs);
        if (retention.maxBytes !== undefined) q.trimBytes.run(ns, stream, ns, stream, retention.maxBytes);
      });
    },
  });

  return {
    kind: 'sqlite',
    location: file,
    namespace,
    async flush() {
      flushNow();
    },
    async close() {
      if (closed) return;
      clearInterval(timer);
      try {
        flushNow();
      } finally {
        closed = true;
        db.close();
      }
    },
    health: () => (closed ? 'the store is closed' : failure === null ? null : failure + (dropped > 0 ? ` (${dropped} history entries waiting for room were dropped)` : '')),
    observe(observer) {
      observers.push(observer);
    },
  };
}

function entry<T extends StoredValue>(row: { seq: number; at: number; value: string }): LogEntry<T> {
  return { seq: row.seq, at: row.at, value: JSON.parse(row.value) as T };
}

/** SQLite's error, said as what the hoster should do. */
function describe(err: unknown, file: string): string {
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message ?? String(err);
  if (code === 'SQLITE_FULL') return `the disk holding ${file} is full; free space (the relay keeps serving, but saves nothing until then)`;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return `${file} is not an agentchat data file or is corrupt (${message}); move it aside and restart to start empty, or restore a backup`;
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return `cannot write ${file} (${message}); fix the permissions of the data dir or choose another --data-dir`;
  }
  return `${file}: ${message}`;
}
