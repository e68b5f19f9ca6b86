/**
 * The Redis store: the state of a cluster of relays, one source of truth on one Redis.
 * Records are a hash per namespace; a log is a sorted set per stream scored by seq, with
 * the stream's last seq in a hash beside it (it stays when entries go, as the interface
 * says). Every put and delete also publishes the change, so each relay's plugins can
 * keep their caches current (`watch`). With AOF on (the compose file does it), what was
 * acknowledged survives a Redis restart.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { keptFrom } from './memory.js';
import { StoreError, type LogEntry, type Retention, type Store, type StoredValue, type StoreNamespace, type StoreObserver } from './types.js';

export interface RedisStoreOptions {
  /** redis://host:port[/db] */
  url: string;
  /** Prefix of every key, so several clusters can share one Redis (default 'ac:'). */
  prefix?: string;
}

/** A change another relay made to a namespace: the new value, or undefined when deleted. */
export type ChangeListener = (key: string, value: StoredValue | undefined) => void;

/**
 * Where a namespace's data lives, for the one writer outside this file that must write it
 * atomically with its own commands: the cluster's publish script appends channel history here.
 */
export const redisKeys = {
  /** The sorted set of one stream's entries. */
  log: (prefix: string, namespace: string, stream: string) => `${prefix}l:${namespace}:${stream}`,
  /** The hash of each stream's last seq (a channel's msg_id counter, for 'history'). */
  lastSeqs: (prefix: string, namespace: string) => `${prefix}s:${namespace}`,
} as const;

/** Members of a log's sorted set: `<seq>|<at>|<JSON value>`; seq first keeps members unique (the cluster's PUBLISH_MSG script writes the same). */
function logMember(seq: number, at: number, json: string): string {
  return `${seq}|${at}|${json}`;
}

function parseMember<T extends StoredValue>(member: string): LogEntry<T> {
  const a = member.indexOf('|');
  const b = member.indexOf('|', a + 1);
  return { seq: Number(member.slice(0, a)), at: Number(member.slice(a + 1, b)), value: JSON.parse(member.slice(b + 1)) as T };
}

/** Set the stream's last seq to `seq` if it is higher, then add the entry: one round trip, atomic. */
const APPEND = `
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return redis.error_reply('seq ' .. ARGV[2] .. ' is not after ' .. last) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1`;

/** Write a record only if it is still what the writer read (compare-and-set), and publish the change. */
const PUT_IF = `
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[4])
return 1`;

/** Connection options shared by the store and the cluster: fail fast while Redis is away, reconnect forever. */
export function redisConnectionOptions(): RedisOptions {
  return {
    // A command while disconnected fails at once: the relay refuses (UNAVAILABLE) rather than queue unboundedly.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * times, 1_000),
    lazyConnect: true,
    connectTimeout: 2_000,
    // A Redis that hangs without closing the connection fails the command too, so no request waits unbounded.
    commandTimeout: 2_000,
  };
}

class RedisNamespace implements StoreNamespace {
  private readonly records: string;
  private readonly lastSeqs: string;

  constructor(private readonly store: RedisStore, readonly name: string) {
    this.records = `${store.prefix}r:${name}`;
    this.lastSeqs = redisKeys.lastSeqs(store.prefix, name);
  }

  private logKey(stream: string): string {
    return redisKeys.log(this.store.prefix, this.name, stream);
  }

  async get<T extends StoredValue>(key: string): Promise<T | undefined> {
    const text = await this.store.run('get', () => this.store.client.hget(this.records, key));
    return text === null ? undefined : (JSON.parse(text) as T);
  }
  async put(key: string, value: StoredValue): Promise<void> {
    const text = JSON.stringify(value);
    await this.store.run('put', () => this.store.client.multi().hset(this.records, key, text).publish(this.store.changes, this.store.change(this.name, key, text)).exec());
  }
  async putIf(key: string, value: StoredValue, expected: StoredValue | undefined): Promise<boolean> {
    const text = JSON.stringify(value);
    const was = expected === undefined ? '' : JSON.stringify(expected);
    const done = await this.store.run('putIf', () => this.store.client.eval(PUT_IF, 2, this.records, this.store.changes, key, text, was, this.store.change(this.name, key, text)));
    return Number(done) === 1;
  }
  async delete(key: string): Promise<void> {
    await this.store.run('delete', () => this.store.client.multi().hdel(this.records, key).publish(this.store.changes, this.store.change(this.name, key, null)).exec());
  }
  async entries<T extends StoredValue>(prefix = ''): Promise<Array<[string, T]>> {
    const all = await this.store.run('entries', () => this.store.client.hgetall(this.records));
    return Object.keys(all).filter((key) => key.startsWith(prefix)).sort().map((key) => [key, JSON.parse(all[key]) as T]);
  }

  async append(stream: string, seq: number, value: StoredValue): Promise<void> {
    await this.store.run('append', () => this.store.client.eval(APPEND, 2, this.logKey(stream), this.lastSeqs, stream, seq, logMember(seq, Date.now(), JSON.stringify(value))));
  }
  appendBehind(stream: string, seq: number, value: StoredValue): void {
    this.store.behind(this.append(stream, seq, value));
  }
  async range<T extends StoredValue>(stream: string, after: number, limit: number): Promise<Array<LogEntry<T>>> {
    const members = await this.store.run('range', () => this.store.client.zrangebyscore(this.logKey(stream), `(${after}`, '+inf', 'LIMIT', 0, limit));
    return members.map((m) => parseMember<T>(m));
  }
  async tail<T extends StoredValue>(stream: string, limit: number): Promise<Array<LogEntry<T>>> {
    if (limit <= 0) return [];
    const members = await this.store.run('tail', () => this.store.client.zrange(this.logKey(stream), -limit, -1));
    return members.map((m) => parseMember<T>(m));
  }
  async lastSeq(stream: string): Promise<number> {
    return Number((await this.store.run('lastSeq', () => this.store.client.hget(this.lastSeqs, stream))) ?? 0);
  }
  async streams(): Promise<string[]> {
    const names = await this.store.run('streams', () => this.store.client.hkeys(this.lastSeqs));
    const sizes = await this.store.run('streams', () => {
      const batch = this.store.client.pipeline();
      for (const name of names) batch.zcard(this.logKey(name));
      return batch.exec();
    });
    return names.filter((_, i) => Number(sizes?.[i]?.[1] ?? 0) > 0);
  }
  async dropStream(stream: string): Promise<void> {
    await this.store.run('drop', () => this.store.client.del(this.logKey(stream)));
  }
  dropBefore(stream: string, seq: number): void {
    this.store.behind(this.store.run('dropBefore', () => this.store.client.zremrangebyscore(this.logKey(stream), '-inf', `(${seq}`)));
  }
  async trim(stream: string, retention: Retention): Promise<void> {
    const key = this.logKey(stream);
    const members = await this.store.run('trim', () => this.store.client.zrange(key, 0, -1));
    const entries = members.map((m) => ({ at: parseMember(m).at, bytes: Buffer.byteLength(m) }));
    const keep = keptFrom(entries, retention, Date.now());
    if (keep > 0) await this.store.run('trim', () => this.store.client.zremrangebyrank(key, 0, keep - 1));
  }
}

export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly location: string;
  readonly prefix: string;
  readonly client: Redis;
  /** Pub/sub for change notices; made on the first `watch`. */
  private subscriber: Redis | null = null;
  /** Where every relay's changes are published. */
  readonly changes: string;
  /** This process, so it does not apply its own changes twice. */
  readonly origin = randomBytes(6).toString('hex');
  private readonly namespaces = new Map<string, RedisNamespace>();
  private readonly listeners = new Map<string, ChangeListener[]>();
  private readonly pending = new Set<Promise<unknown>>();
  private lastFailure: string | null = null;

  constructor(options: RedisStoreOptions) {
    this.location = options.url;
    this.prefix = options.prefix ?? 'ac:';
    this.changes = `${this.prefix}changes`;
    this.client = new Redis(options.url, redisConnectionOptions());
    // ioredis reports every failed reconnect here; health() says it, the relay does not crash.
    this.client.on('error', (err: Error) => { this.lastFailure = err.message; });
    this.client.on('ready', () => { this.lastFailure = null; });
  }

  /** Connect now: a relay that cannot reach Redis at start says so in one line. */
  async open(): Promise<void> {
    try {
      await this.client.connect();
    } catch (err) {
      this.client.disconnect();
      // ioredis's own rejection says only that the connection closed; the error event said why.
      throw new StoreError(`cannot reach Redis at ${this.location} (${this.lastFailure ?? (err as Error).message}); start it or fix --redis`);
    }
  }

  namespace(name: string): RedisNamespace {
    let ns = this.namespaces.get(name);
    if (ns === undefined) this.namespaces.set(name, (ns = new RedisNamespace(this, name)));
    return ns;
  }

  /** Be told of changes other relays make to a namespace's records. */
  watch(namespace: string, listener: ChangeListener): void {
    const list = this.listeners.get(namespace);
    if (list) list.push(listener);
    else this.listeners.set(namespace, [listener]);
    if (this.subscriber !== null) return;
    // Queued while away, and subscribed again after a reconnect (ioredis's autoResubscribe).
    this.subscriber = this.client.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    this.subscriber.on('error', () => {});
    this.subscriber.on('message', (_channel: string, message: string) => this.applyChange(message));
    void this.subscriber.subscribe(this.changes).catch(() => {});
  }

  change(namespace: string, key: string, text: string | null): string {
    return JSON.stringify([this.origin, namespace, key, text]);
  }

  private applyChange(message: string): void {
    let change: [string, string, string, string | null];
    try {
      change = JSON.parse(message) as typeof change;
    } catch {
      return;
    }
    const [origin, namespace, key, text] = change;
    if (origin === this.origin) return;
    const value = text === null ? undefined : (JSON.parse(text) as StoredValue);
    for (const listener of this.listeners.get(namespace) ?? []) listener(key, value);
  }

  /** Run a command, timed for the observers (the store latency metric); a Redis failure becomes a StoreError saying Redis is away. */
  async run<T>(op: string, command: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await command();
      for (const observer of this.observers) observer(op, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const message = (err as Error).message;
      // Redis out of memory (maxmemory with noeviction) is the cluster's full disk.
      const error = new StoreError(`Redis at ${this.location} did not take the write or read: ${message}`, { cause: err, diskFull: message.startsWith('OOM') });
      for (const observer of this.observers) observer(op, (performance.now() - started) / 1000, error);
      throw error;
    }
  }

  private readonly observers: StoreObserver[] = [];
  observe(observer: StoreObserver): void {
    this.observers.push(observer);
  }

  /** Written behind: tracked until done, so flush() waits for it; a failure is kept for health(). */
  behind(write: Promise<unknown>): void {
    const tracked = write.then(() => undefined, (err: Error) => { this.lastFailure = err.message; });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.flush();
    this.subscriber?.disconnect();
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }

  health(): string | null {
    if (this.client.status !== 'ready') return `Redis at ${this.location} is unreachable (${this.lastFailure ?? this.client.status})`;
    return null;
  }
}

export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
