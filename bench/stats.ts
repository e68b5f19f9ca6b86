/** Small statistics for the bench: medians over runs, percentiles from a log histogram. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function minMax(values: readonly number[]): [number, number] {
  if (values.length === 0) return [NaN, NaN];
  return [Math.min(...values), Math.max(...values)];
}

/** Buckets per natural-log unit: adjacent buckets differ by 1%, so percentiles are within ~0.5%. */
const PER_LN = 100;
const BUCKETS = 2000; // up to e^20 µs ≈ 135 h: nothing is clipped

/**
 * Latency histogram in microseconds with log-spaced buckets: constant memory whatever the
 * count, cheap to record in the hot receive path, and mergeable across worker processes.
 */
export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;

  record(us: number): void {
    const i = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(us) * PER_LN));
    this.counts[i]++;
    this.count++;
  }

  /** Sparse form for IPC: [bucket, count] pairs. */
  toSparse(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] > 0) out.push([i, this.counts[i]]);
    return out;
  }

  addSparse(sparse: ReadonlyArray<readonly [number, number]>): void {
    for (const [i, c] of sparse) {
      this.counts[i] += c;
      this.count += c;
    }
  }

  /** p in [0, 100]; the bucket's geometric midpoint, in µs. NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return i === 0 ? 1 : Math.exp((i + 0.5) / PER_LN);
    }
    return NaN;
  }
}
