/**
 * Token buckets, one for MSG-class frames and one for the rest, kept as plain fields
 * on the session (no objects per connection): `burst` tokens at most, `perSec` refill.
 */
import type { RateBucket } from './config.js';

export interface TokenBuckets {
  msgTokens: number;
  /** ms of the last refill */
  msgLast: number;
  otherTokens: number;
  otherLast: number;
}

/** Take one token. Returns 0 when allowed, else ms until a token is available. */
export function take(b: TokenBuckets, msgClass: boolean, rate: RateBucket, now: number): number {
  let tokens = msgClass ? b.msgTokens : b.otherTokens;
  const elapsed = now - (msgClass ? b.msgLast : b.otherLast);
  if (elapsed > 0) {
    tokens = Math.min(rate.burst, tokens + (elapsed * rate.perSec) / 1000);
    if (msgClass) b.msgLast = now;
    else b.otherLast = now;
  }
  const allowed = tokens >= 1;
  if (allowed) tokens -= 1;
  if (msgClass) b.msgTokens = tokens;
  else b.otherTokens = tokens;
  if (allowed) return 0;
  return rate.perSec > 0 ? Math.ceil(((1 - tokens) * 1000) / rate.perSec) : 60_000;
}
