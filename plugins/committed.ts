/**
 * The durability rule for plugins: commit, then acknowledge. `committed` awaits a store
 * write; if the store cannot take it (a full disk, Redis down) the client is refused
 * with UNAVAILABLE and nothing is acknowledged. The store's failures are logged by the
 * logging plugin, once per outage (throttled), from the store's observer: each failed
 * write here is only a debug line, so clients retrying against a full disk cannot flood the log.
 */
import { ErrorCode } from '../protocol/errors.js';
import { RelayError, type Logger } from '../kernel/types.js';
import type { StoreError } from '../store/types.js';

export async function committed<T>(write: Promise<T>, what: string, logger: Logger): Promise<T> {
  try {
    return await write;
  } catch (err) {
    logger.debug('store_write_failed', { what, error: err instanceof Error ? err.message : String(err) });
    // Said structurally: a store from another copy of this package (a hoster's Redis store) is recognized too.
    if ((err as Partial<StoreError> | null)?.diskFull === true) {
      throw new RelayError(ErrorCode.UNAVAILABLE, `the relay's disk is full, so ${what} was not saved and not done; try again later`, { reason: 'DISK_FULL' });
    }
    throw new RelayError(ErrorCode.UNAVAILABLE, `the relay could not save ${what}, so it was not done; try again later`);
  }
}

/** A write nobody waits for (bookkeeping that a restart may lose): failures are debug lines (see above), never unhandled. */
export function behind(write: Promise<unknown>, what: string, logger: Logger): void {
  write.catch((err: unknown) => logger.debug('store_write_failed', { what, error: err instanceof Error ? err.message : String(err) }));
}
