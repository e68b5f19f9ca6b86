/**
 * The storage interface behind the plugins (DESIGN.md § State). One interface, several
 * backends: memory (tests, `--memory`), SQLite (the embedded default, one file under the
 * data dir) and, for a cluster, Redis. Every method may be async, so a networked backend
 * implements the same interface; the embedded ones answer at once.
 *
 * State lives in namespaces, one per plugin ('channels', 'identity', 'proposals', or a
 * hoster plugin's own name), each with records by key and append-only logs by stream.
 */

/** A JSON value a record or log entry may hold. */
export type StoredValue = null | boolean | number | string | StoredValue[] | { [key: string]: StoredValue };

/** One log entry: its sequence number in its stream (monotonic, never reused) and its value. */
export interface LogEntry<T extends StoredValue = StoredValue> {
  seq: number;
  /** ms since epoch when appended. */
  at: number;
  value: T;
}

/** Bounds a log keeps: the oldest entries past any of them are dropped. */
export interface Retention {
  maxEntries?: number;
  maxBytes?: number;
  maxAgeMs?: number;
}

export interface StoreNamespace {
  get<T extends StoredValue>(key: string): Promise<T | undefined>;
  /** Committed when the promise resolves (the durability rule: commit, then acknowledge). */
  put(key: string, value: StoredValue): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * For a store several relays write at once (Redis): commit `value` only if the record is
   * still `expected` (undefined: absent), compared as the stored JSON; false, and nothing
   * written, when another writer changed it first. Single-process stores leave it out: their
   * one writer's cache is the truth.
   */
  putIf?(key: string, value: StoredValue, expected: StoredValue | undefined): Promise<boolean>;
  /** Every record, optionally only keys starting with `prefix`, in key order. */
  entries<T extends StoredValue>(prefix?: string): Promise<Array<[string, T]>>;

  /** Append with a sequence number the caller chose (greater than any before in the stream); committed when it resolves. */
  append(stream: string, seq: number, value: StoredValue): Promise<void>;
  /**
   * Append without waiting: batched and written behind, off the hot path, within the
   * store's flush interval (the stated loss window on a crash).
   */
  appendBehind(stream: string, seq: number, value: StoredValue): void;
  /** Entries with seq > `after`, oldest first, at most `limit`. */
  range<T extends StoredValue>(stream: string, after: number, limit: number): Promise<Array<LogEntry<T>>>;
  /** The newest `limit` entries, oldest first. */
  tail<T extends StoredValue>(stream: string, limit: number): Promise<Array<LogEntry<T>>>;
  /** The highest seq ever appended to the stream (0 if none), retained or not. */
  lastSeq(stream: string): Promise<number>;
  /** The streams that have entries. */
  streams(): Promise<string[]>;
  /** Drop a stream's entries (e.g. the history of a deleted channel); its lastSeq stays. */
  dropStream(stream: string): Promise<void>;
  /** Drop the entries before `seq`, written behind like appendBehind (what a bounded log no longer keeps). */
  dropBefore(stream: string, seq: number): void;
  /** Apply retention to a stream now. */
  trim(stream: string, retention: Retention): Promise<void>;
}

export interface Store {
  /** 'memory', 'sqlite' or 'redis': for logs and /readyz. */
  readonly kind: string;
  /** Where it lives (a file path), for the start log. */
  readonly location: string;
  namespace(name: string): StoreNamespace;
  /** Write out everything written behind. */
  flush(): Promise<void>;
  /** Flush and release; the store is unusable afterwards. */
  close(): Promise<void>;
  /** null when healthy, else why not (for /readyz). */
  health(): string | null;
  /** Connect, for a networked store: the relay awaits it before any plugin sets up. */
  open?(): Promise<void>;
  /**
   * In a cluster, another relay changed a record of `namespace` (value undefined: deleted):
   * plugins that cache records keep their cache current with it. A single-process store
   * has no other writer and never calls it.
   */
  watch?(namespace: string, listener: (key: string, value: StoredValue | undefined) => void): void;
  /**
   * Optional: report every write to the backend (a committed write, a write-behind
   * flush, a probe while failing) as it ends, for metrics and logs. Never per MSG: the
   * write-behind history is reported once per batch.
   */
  observe?(observer: StoreObserver): void;
}

/** What a write to the backend was, e.g. 'put', 'delete', 'append', 'flush', 'trim', 'drop', 'probe'. */
export type StoreOp = string;
/** How long it took in seconds, and the StoreError when it failed. */
export type StoreObserver = (op: StoreOp, seconds: number, error?: StoreError) => void;

/** A store failure a user must act on (a bad data dir, a full disk): one line saying what to do. */
export class StoreError extends Error {
  /** The backend is out of space (SQLITE_FULL, Redis OOM): the client is told the relay's disk is full. */
  readonly diskFull: boolean;
  constructor(message: string, options?: { cause?: unknown; diskFull?: boolean }) {
    super(message, options);
    this.name = 'StoreError';
    this.diskFull = options?.diskFull ?? false;
  }
}
