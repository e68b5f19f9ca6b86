/**
 * The data file's schema, versioned in SQLite's user_version. MIGRATIONS[i] takes a file
 * from version i to i + 1, in one transaction; a file newer than this code knows is
 * refused rather than guessed at.
 */
import { StoreError } from './types.js';

/**
 * What a migration needs of a better-sqlite3 database, said structurally so the published
 * declarations do not ask consumers for better-sqlite3's types.
 */
export interface MigratableDatabase {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): unknown;
  transaction(fn: () => void): { immediate(): void };
}

const MIGRATIONS: ReadonlyArray<string> = [
  // 0 → 1: records by namespace and key; append-only logs by namespace and stream; each stream's highest seq.
  `CREATE TABLE records (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;
   CREATE TABLE logs (ns TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, bytes INTEGER NOT NULL,
     value TEXT NOT NULL, PRIMARY KEY (ns, stream, seq)) WITHOUT ROWID;
   CREATE TABLE log_heads (ns TEXT NOT NULL, stream TEXT NOT NULL, last_seq INTEGER NOT NULL, PRIMARY KEY (ns, stream)) WITHOUT ROWID;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: MigratableDatabase, file: string): void {
  // IMMEDIATE takes the write lock before the version is read: two processes opening a new
  // file at once (relays sharing a data dir) migrate it once, the second waiting its turn.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StoreError(`${file} was written by a newer agentchat (schema ${version}; this one knows up to ${SCHEMA_VERSION}); upgrade agentchat, or choose another --data-dir`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
