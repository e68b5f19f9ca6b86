/**
 * Signed MSGs already accepted, so an identical one (same key, same signature) resent
 * from any session is refused. An entry is needed only while its signed ts is inside
 * the freshness window: past it the skew check refuses the replay anyway. Bounded:
 * when full, new signed MSGs are refused (fail closed) until entries expire.
 */
export class ReplayCache {
  /** key → when the entry may go (signed ts + window); in arrival order. */
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** 'fresh' (now recorded), 'replay', or 'full'. */
  check(key: string, signedTs: number, now: number): 'fresh' | 'replay' | 'full' {
    this.expire(now);
    if (this.seen.has(key)) return 'replay';
    if (this.seen.size >= this.max) return 'full';
    this.seen.set(key, signedTs + this.windowMs);
    return 'fresh';
  }

  /** Drop expired entries from the front; arrival order is close to ts order, and a straggler only waits longer. */
  private expire(now: number): void {
    for (const [key, until] of this.seen) {
      if (until >= now) return;
      this.seen.delete(key);
    }
  }
}
