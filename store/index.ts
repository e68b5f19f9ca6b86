/** The store a relay runs on: SQLite under the data dir by default, memory with `memory: true`. */
import { memoryStore } from './memory.js';
import { redisStore } from './redis.js';
import { sqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export { memoryStore } from './memory.js';
export { DATA_FILE, sqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { SCHEMA_VERSION } from './schema.js';
export { RedisStore, redisStore, type RedisStoreOptions } from './redis.js';
export * from './types.js';

export interface OpenStoreOptions {
  /** Keep nothing on disk. */
  memory?: boolean;
  /** Default ./data (DATA_DIR in containers). */
  dataDir?: string;
  /** A cluster's shared store on this Redis (redis://host:port). */
  redis?: string;
}

export function openStore(options: OpenStoreOptions = {}): Store {
  if (options.redis !== undefined) return redisStore({ url: options.redis });
  if (options.memory) return memoryStore();
  return sqliteStore({ dataDir: options.dataDir ?? 'data' });
}
