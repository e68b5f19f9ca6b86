/**
 * Signature checks off the event loop. An Ed25519 verify costs ~110 µs of CPU, nearly all of a
 * signed MSG's cost: node:crypto's one-shot verify with a callback runs it on the libuv thread
 * pool, so the machine's other cores do that work while the loop keeps relaying.
 *
 * Bounded relay-wide: at most `maxInFlight` checks are handed to the pool at once (default 4: the pool has
 * UV_THREADPOOL_SIZE threads, default 4; handing it more only queues them where the store's and
 * the logger's file work would wait behind them); the rest wait here, in arrival order, at most
 * `maxQueued` of them and `maxQueuedBytes` of signed text. Past that a check is refused at once
 * and the caller answers RATE_LIMITED. Per session the kernel holds a session's later frames
 * while one of its hooks is pending, so each session has at most one check pending.
 *
 * `maxInFlight: 0` verifies on the event loop, synchronously, as the relay did before.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';

/** The async one-shot verify's shape (node:crypto's), injectable so tests can hold checks pending. */
export type VerifyFn = (
  algorithm: null,
  data: Buffer,
  key: KeyObject,
  signature: Buffer,
  callback: (error: Error | null, result: boolean) => void,
) => void;

export interface VerifierOptions {
  /** Checks handed to the thread pool at once, relay-wide; 0 verifies on the event loop. */
  maxInFlight: number;
  /** Checks waiting for a free slot, relay-wide. */
  maxQueued: number;
  /** UTF-8 bytes of signed text waiting, relay-wide (a queued check keeps its text). */
  maxQueuedBytes: number;
  verify?: VerifyFn;
}

/** What the verifier has done, for metrics and tests. */
export interface VerifierStats {
  inFlight: number;
  queued: number;
  queuedBytes: number;
  /** The most checks ever in flight at once: never above maxInFlight. */
  peakInFlight: number;
  peakQueued: number;
  /** Checks refused because the queue was full (the client got RATE_LIMITED). */
  refusedBusy: number;
}

/** The check could not even wait: the queue is full. */
export const BUSY = 'busy';

interface Job {
  data: Buffer;
  key: KeyObject;
  sig: Buffer;
  resolve: (ok: boolean) => void;
}

/** An Ed25519 signature is 64 bytes: 88 base64 chars. Anything else cannot verify. */
const BASE64_SIG = /^[A-Za-z0-9+/]{86}==$/;

export class SignatureVerifier {
  readonly stats: VerifierStats = { inFlight: 0, queued: 0, queuedBytes: 0, peakInFlight: 0, peakQueued: 0, refusedBusy: 0 };
  private readonly queue: (Job | undefined)[] = [];
  private head = 0;
  private readonly run: VerifyFn;

  constructor(private readonly options: VerifierOptions) {
    this.run = options.verify ?? (cryptoVerify as unknown as VerifyFn);
  }

  /**
   * Whether `sigBase64` is `key`'s signature over the UTF-8 of `data`: a boolean when known at
   * once (malformed, or verifying on the loop), a promise when checked on the pool, BUSY when
   * the relay already has as many checks waiting as it may keep.
   */
  check(key: KeyObject, data: string, sigBase64: string): boolean | Promise<boolean> | typeof BUSY {
    if (typeof sigBase64 !== 'string' || !BASE64_SIG.test(sigBase64)) return false;
    const bytes = Buffer.from(data, 'utf8');
    const sig = Buffer.from(sigBase64, 'base64');
    const { stats, options } = this;
    if (options.maxInFlight === 0) return verifyNow(bytes, key, sig);
    if (stats.inFlight >= options.maxInFlight) {
      if (stats.queued >= options.maxQueued || stats.queuedBytes + bytes.length > options.maxQueuedBytes) {
        stats.refusedBusy++;
        return BUSY;
      }
      return new Promise<boolean>((resolve) => {
        this.queue.push({ data: bytes, key, sig, resolve });
        stats.queued++;
        stats.queuedBytes += bytes.length;
        if (stats.queued > stats.peakQueued) stats.peakQueued = stats.queued;
      });
    }
    return new Promise<boolean>((resolve) => this.start({ data: bytes, key, sig, resolve }));
  }

  private start(job: Job): void {
    const stats = this.stats;
    stats.inFlight++;
    if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
    let settled = false;
    const done = (error: Error | null, ok: boolean): void => {
      if (settled) return;
      settled = true;
      stats.inFlight--;
      // A key or signature the library cannot use does not verify.
      job.resolve(error === null && ok === true);
      this.next();
    };
    try {
      this.run(null, job.data, job.key, job.sig, done);
    } catch {
      done(null, false);
    }
  }

  /** A slot is free: the oldest waiting check takes it. */
  private next(): void {
    const stats = this.stats;
    if (stats.queued === 0 || stats.inFlight >= this.options.maxInFlight) return;
    const job = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    stats.queued--;
    stats.queuedBytes -= job.data.length;
    // Compact once the consumed head is most of the array (amortized O(1) per job).
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    } else if (stats.queued === 0) {
      this.queue.length = 0;
      this.head = 0;
    }
    this.start(job);
  }
}

function verifyNow(data: Buffer, key: KeyObject, sig: Buffer): boolean {
  try {
    return cryptoVerify(null, data, key, sig);
  } catch {
    return false;
  }
}
