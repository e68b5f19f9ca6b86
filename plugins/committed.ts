/**
 * The durability rule for plugins: commit, then acknowledge. `committed` awaits a store
 * write; if the store cannot take it (a full disk, Redis down) the client is refused
 * with UNAVAILABLE and nothing is acknowledged, and the cause is logged once per write.
 */
import { ErrorCode } from '../protocol/errors.js';
import { RelayError, type Logger } from '../kernel/types.js';

export async function committed<T>(write: Promise<T>, what: string, logger: Logger): Promise<T> {
  try {
    return await write;
  } catch (err) {
    logger.error('store_write_failed', { what, error: err instanceof Error ? err.message : String(err) });
    throw new RelayError(ErrorCode.UNAVAILABLE, `the relay could not save ${what}, so it was not done; try again later`);
  }
}

/** A write nobody waits for (bookkeeping that a restart may lose): failures are logged, never unhandled. */
export function behind(write: Promise<unknown>, what: string, logger: Logger): void {
  write.catch((err: unknown) => logger.error('store_write_failed', { what, error: err instanceof Error ? err.message : String(err) }));
}
