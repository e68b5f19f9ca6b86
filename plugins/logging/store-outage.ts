/**
 * A store outage (a full disk, Redis down) as the log shows it, from the store's
 * observer: one error line when writes start failing, at most one a minute while they
 * keep failing (with how many failed since), one info line when a write succeeds again.
 */
import type { Logger } from '../../kernel/types.js';
import type { Store } from '../../store/types.js';

export function logStoreOutages(store: Store, log: Logger, intervalMs = 60_000): void {
  if (store.observe === undefined) return;
  let since: number | null = null;
  let lastLine = 0;
  let failed = 0;
  let notLogged = 0;
  store.observe((op, _seconds, error) => {
    const now = Date.now();
    if (error === undefined) {
      // The store's own verdict: a delete that succeeds on a full disk is no recovery.
      if (since === null || store.health() !== null) return;
      log.info('store_recovered', { store: store.kind, failed_writes: failed, down_ms: now - since });
      since = null;
      failed = 0;
      notLogged = 0;
      return;
    }
    failed++;
    if (since !== null && now - lastLine < intervalMs) {
      notLogged++;
      return;
    }
    log.error('store_write_failed', {
      store: store.kind, op, error: error.message, disk_full: error.diskFull,
      ...(since === null ? {} : { failing_since: new Date(since).toISOString(), failed_not_logged: notLogged }),
    });
    since ??= now;
    lastLine = now;
    notLogged = 0;
  });
}
