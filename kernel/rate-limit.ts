/**
 * Token buckets, kept as plain fields on the session (no objects per connection):
 * one for MSG-class frames, one for JOIN/LEAVE (fakelag for channel toggles, whose
 * presence broadcasts reach every member), one for the rest. `burst` tokens at most,
 * `perSec` refill; all refill from one timestamp, so refilling them together is exact.
 */
import type { RateBucket } from './config.js';

export interface TokenBuckets {
  msgTokens: number;
  otherTokens: number;
  joinTokens: number;
  /** ms of the last refill of the buckets */
  refilledAt: number;
}

/** Which bucket a frame draws from. */
export const RATE_MSG = 0;
export const RATE_OTHER = 1;
export const RATE_JOIN = 2;
export type RateIndex = typeof RATE_MSG | typeof RATE_OTHER | typeof RATE_JOIN;

export interface Rates {
  rateMsg: RateBucket;
  rateOther: RateBucket;
  rateJoin: RateBucket;
}

/** Take one token from a bucket. Returns 0 when allowed, else ms until a token is available. */
export function take(b: TokenBuckets, bucket: RateIndex, rates: Rates, now: number): number {
  const elapsed = now - b.refilledAt;
  if (elapsed > 0) {
    b.msgTokens = Math.min(rates.rateMsg.burst, b.msgTokens + (elapsed * rates.rateMsg.perSec) / 1000);
    b.otherTokens = Math.min(rates.rateOther.burst, b.otherTokens + (elapsed * rates.rateOther.perSec) / 1000);
    b.joinTokens = Math.min(rates.rateJoin.burst, b.joinTokens + (elapsed * rates.rateJoin.perSec) / 1000);
    b.refilledAt = now;
  }
  const tokens = bucket === RATE_MSG ? b.msgTokens : bucket === RATE_OTHER ? b.otherTokens : b.joinTokens;
  if (tokens >= 1) {
    if (bucket === RATE_MSG) b.msgTokens = tokens - 1;
    else if (bucket === RATE_OTHER) b.otherTokens = tokens - 1;
    else b.joinTokens = tokens - 1;
    return 0;
  }
  const perSec = bucket === RATE_MSG ? rates.rateMsg.perSec : bucket === RATE_OTHER ? rates.rateOther.perSec : rates.rateJoin.perSec;
  return perSec > 0 ? Math.ceil(((1 - tokens) * 1000) / perSec) : 60_000;
}
