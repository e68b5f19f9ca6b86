/**
 * Token buckets, one for MSG-class frames and one for the rest, kept as plain fields
 * on the session (no objects per connection): `burst` tokens at most, `perSec` refill.
 * Both refill from one timestamp: refilling both on every frame is exact.
 */
import type { RateBucket } from './config.js';

export interface TokenBuckets {
  msgTokens: number;
  otherTokens: number;
  /** ms of the last refill of both buckets */
  refilledAt: number;
}

/** Take one token from the MSG or the other bucket. Returns 0 when allowed, else ms until a token is available. */
export function take(b: TokenBuckets, msgClass: boolean, msgRate: RateBucket, otherRate: RateBucket, now: number): number {
  const elapsed = now - b.refilledAt;
  if (elapsed > 0) {
    b.msgTokens = Math.min(msgRate.burst, b.msgTokens + (elapsed * msgRate.perSec) / 1000);
    b.otherTokens = Math.min(otherRate.burst, b.otherTokens + (elapsed * otherRate.perSec) / 1000);
    b.refilledAt = now;
  }
  const tokens = msgClass ? b.msgTokens : b.otherTokens;
  if (tokens >= 1) {
    if (msgClass) b.msgTokens = tokens - 1;
    else b.otherTokens = tokens - 1;
    return 0;
  }
  const perSec = msgClass ? msgRate.perSec : otherRate.perSec;
  return perSec > 0 ? Math.ceil(((1 - tokens) * 1000) / perSec) : 60_000;
}
