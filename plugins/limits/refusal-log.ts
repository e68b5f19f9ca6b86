/**
 * Refusals counted by reason and logged once per address per interval: an address
 * hammering a limit costs one log line a minute, not one per attempt.
 */
import type { Logger, RelayApi } from '../../kernel/types.js';

/** Addresses given their own line per interval; past it one summary line counts the rest. */
const ADDRESSES_LOGGED_PER_INTERVAL = 100;

export class RefusalLog {
  /** Refusals not yet logged, by address, then by reason. */
  private readonly pending = new Map<string, Map<string, number>>();
  private readonly loggedThisInterval = new Set<string>();
  private notLogged = 0;

  constructor(
    private readonly relay: RelayApi,
    private readonly logger: Logger,
  ) {}

  /** Log a refusal (the first for this address in the interval at once); `count` unless the kernel counts it (upgrades). */
  note(address: string, reason: string, detail: string, count: boolean): void {
    if (count) this.relay.countRefusal(reason);
    if (!this.loggedThisInterval.has(address)) {
      if (this.loggedThisInterval.size >= ADDRESSES_LOGGED_PER_INTERVAL) {
        this.notLogged++;
        return;
      }
      this.loggedThisInterval.add(address);
      this.logger.warn('address_refused', { ip: address, reason, detail });
      return;
    }
    let reasons = this.pending.get(address);
    if (reasons === undefined) this.pending.set(address, (reasons = new Map()));
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }

  /** End of an interval: one line per address refused again since its first line, then start over. */
  flush(intervalMs: number): void {
    for (const [address, reasons] of this.pending) {
      this.logger.warn('address_refused', { ip: address, refused: Object.fromEntries(reasons), interval_ms: intervalMs });
    }
    if (this.notLogged > 0) this.logger.warn('addresses_refused_not_logged', { refused: this.notLogged, interval_ms: intervalMs });
    this.pending.clear();
    this.loggedThisInterval.clear();
    this.notLogged = 0;
  }
}
