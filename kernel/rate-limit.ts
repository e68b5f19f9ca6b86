/** Token bucket: `burst` tokens at most, refilled at `perSec`. State lives on the session. */
import type { RateBucket } from './config.js';

export interface BucketState {
  tokens: number;
  /** ms of the last refill */
  last: number;
}

export const newBucket = (rate: RateBucket, now: number): BucketState => ({ tokens: rate.burst, last: now });

/** Take one token. Returns 0 when allowed, else ms until a token is available. */
export function take(bucket: BucketState, rate: RateBucket, now: number): number {
  const elapsed = now - bucket.last;
  if (elapsed > 0) {
    bucket.tokens = Math.min(rate.burst, bucket.tokens + (elapsed * rate.perSec) / 1000);
    bucket.last = now;
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return rate.perSec > 0 ? Math.ceil(((1 - bucket.tokens) * 1000) / rate.perSec) : 60_000;
}
