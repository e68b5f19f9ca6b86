/**
 * Signature checks off the event loop. An Ed25519 verify is nearly all of a signed MSG's cost
 * (~70 µs with node:crypto here, ~45 µs with libsodium, against ~15 µs for the rest of the
 * MSG): on the loop it caps the relay at one core's worth of checks while the others sit idle.
 *
 * Checks go to a few worker threads (verify-thread.ts) in batches: a thread that is free takes
 * every check waiting, up to `maxBatch`, in one message, and answers them in one message; it may
 * hold two batches, so it has the next while the loop takes in the last answer. A busy relay
 * shares each thread wake-up among many checks. An idle one checks a lone signature on the loop
 * at once (`inlineWhenIdle`): alone, that is cheaper than the hand-off and back.
 *
 * Bounded relay-wide: at most `maxInFlight` checks are with the threads at once; the rest wait
 * here, in arrival order, at most `maxQueued` of them and `maxQueuedBytes` of signed text. Past
 * that a check is refused at once and the caller answers RATE_LIMITED. Per session the kernel
 * holds a session's later frames while one of its hooks is pending, so its order is kept.
 *
 * `maxInFlight: 0` verifies on the event loop, synchronously. `library: 'node:crypto'` uses
 * OpenSSL even where libsodium loads: with both, the relay's path before this file.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { packBatch, startVerifyThread, type Ed25519Library, type PackedCheck } from './verify-thread.js';
import { isSignatureShape, rawPublicKey } from '../../protocol/keys.js';

/** The async one-shot verify's shape (node:crypto's), injectable so tests can hold checks pending one by one. */
export type VerifyFn = (
  algorithm: null,
  data: Buffer,
  key: KeyObject,
  signature: Buffer,
  callback: (error: Error | null, result: boolean) => void,
) => void;

export interface VerifierOptions {
  /** Checks handed off the event loop at once, relay-wide; 0 verifies on the event loop. */
  maxInFlight: number;
  /** Checks waiting for a free thread, relay-wide. */
  maxQueued: number;
  /** UTF-8 bytes of signed text waiting, relay-wide (a queued check keeps its text). */
  maxQueuedBytes: number;
  /** Check threads (default: the machine's cores, at most 4). */
  threads?: number;
  /** Most checks in one batch (default 64). */
  maxBatch?: number;
  /** 'auto' (default): libsodium when sodium-native loads, else node:crypto. 'node:crypto': always OpenSSL. */
  library?: 'auto' | 'node:crypto';
  /** Replaces the threads: one call per check, answered through its callback (tests hold checks with it). */
  verify?: VerifyFn;
  /**
   * A check that finds nothing in flight or waiting, and is the first such in this turn of the loop, runs
   * at once on the loop (default true): alone, it costs less there (~45 µs) than the hand-off to a
   * thread and back (~80 µs of wake-ups on both sides), and answers sooner. Under load checks queue,
   * and every one goes to the threads.
   */
  inlineWhenIdle?: boolean;
  /** Told when a check thread fails (its checks are then answered on the loop): for the relay's log. */
  onThreadFailure?: (error: Error, threadsLeft: boolean) => void;
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
  /** Batches handed to the threads (checks ÷ batches = how much each wake-up was shared). */
  batches: number;
  /** Checks answered off the event loop. */
  checked: number;
  /** Checks answered on the loop because the relay was idle (inlineWhenIdle). */
  inline: number;
}

/** The check could not even wait: the queue is full. */
export const BUSY = 'busy';

interface Job extends PackedCheck {
  key: KeyObject;
  resolve: (ok: boolean) => void;
}

/** A check thread and the batch it is working on. */
interface Lane {
  worker: Worker;
  /** Batches sent, answered in this order: two at most, so the thread has the next while the loop takes in the last answer. */
  batches: Job[][];
  /** Answered in this turn of the loop: takes no new batch until the turn ends (see the answer handler). */
  resting: boolean;
}

/** Batches a thread may have at once. */
const LANE_DEPTH = 2;
/** A thread that dies this often is not restarted: checks go back to the event loop. */
const MAX_THREAD_FAILURES = 5;

type SodiumVerify = (sig: Uint8Array, msg: Uint8Array, pk: Uint8Array) => boolean;

/** sodium-native's entry and its verify, if it is installed and loads on this platform. */
function loadSodium(): { path: string; verify: SodiumVerify } | null {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('sodium-native');
    const sodium = require(path) as { crypto_sign_verify_detached: SodiumVerify };
    return { path, verify: sodium.crypto_sign_verify_detached };
  } catch {
    return null;
  }
}

/** The 32 raw bytes of an Ed25519 KeyObject, made once per key. */
const rawKeys = new WeakMap<KeyObject, Uint8Array>();
function rawOf(key: KeyObject): Uint8Array {
  let raw = rawKeys.get(key);
  if (raw === undefined) rawKeys.set(key, (raw = rawPublicKey(key)));
  return raw;
}

/** Check threads unless told otherwise: one per core, at most 4 (the loop needs a core too). */
export function defaultVerifyThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism()));
}

export class SignatureVerifier {
  readonly stats: VerifierStats = { inFlight: 0, queued: 0, queuedBytes: 0, peakInFlight: 0, peakQueued: 0, refusedBusy: 0, batches: 0, checked: 0, inline: 0 };
  /** What verifies: on the threads, or on the loop when maxInFlight is 0. */
  readonly library: Ed25519Library;
  private readonly queue: (Job | undefined)[] = [];
  private head = 0;
  private readonly lanes: Lane[] = [];
  private readonly sodium: { path: string; verify: SodiumVerify } | null;
  private readonly threads: number;
  private readonly maxBatch: number;
  private failures = 0;
  private closed = false;
  private readonly inlineWhenIdle: boolean;
  private inlineThisTurn = false;
  private readonly endInlineTurn = (): void => {
    this.inlineThisTurn = false;
  };
  private wakeScheduled = false;
  /** The end of a turn in which threads answered: they take what the turn queued, together. */
  private readonly wake = (): void => {
    this.wakeScheduled = false;
    for (const lane of this.lanes) lane.resting = false;
    this.pump();
  };

  constructor(private readonly options: VerifierOptions) {
    this.sodium = options.library === 'node:crypto' ? null : loadSodium();
    this.library = this.sodium !== null ? 'libsodium' : 'node:crypto';
    this.threads = options.threads ?? defaultVerifyThreads();
    this.maxBatch = options.maxBatch ?? 64;
    this.inlineWhenIdle = options.inlineWhenIdle ?? true;
    for (const [name, value] of [['threads', this.threads], ['maxBatch', this.maxBatch]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`verifier ${name} must be a whole number >= 1, got ${String(value)}`);
    }
  }

  /**
   * Whether `sigBase64` is `key`'s signature over the UTF-8 of `data`: a boolean when known at
   * once (malformed, or verifying on the loop), a promise when checked off the loop, BUSY when
   * the relay already has as many checks waiting as it may keep.
   */
  check(key: KeyObject, data: string, sigBase64: string): boolean | Promise<boolean> | typeof BUSY {
    if (!isSignatureShape(sigBase64)) return false;
    const { stats, options } = this;
    if (options.maxInFlight === 0 || this.closed) return this.verifyHere(key, data, sigBase64);
    if (this.inlineWhenIdle && stats.inFlight === 0 && stats.queued === 0 && !this.inlineThisTurn) {
      this.inlineThisTurn = true;
      setImmediate(this.endInlineTurn);
      stats.inline++;
      return this.verifyHere(key, data, sigBase64);
    }
    const bytes = Buffer.byteLength(data, 'utf8');
    if (!this.canStart() && (stats.queued >= options.maxQueued || stats.queuedBytes + bytes > options.maxQueuedBytes)) {
      stats.refusedBusy++;
      return BUSY;
    }
    return new Promise<boolean>((resolve) => {
      this.queue.push({ key, raw: rawOf(key), sig: sigBase64, data, bytes, resolve });
      stats.queued++;
      stats.queuedBytes += bytes;
      if (stats.queued > stats.peakQueued) stats.peakQueued = stats.queued;
      this.pump();
    });
  }

  /** Stops the threads; later checks run on the loop. */
  async close(): Promise<void> {
    this.closed = true;
    const lanes = this.lanes.splice(0);
    for (const lane of lanes) this.fallBack(lane);
    this.drainHere();
    await Promise.all(lanes.map((lane) => lane.worker.terminate()));
  }

  /** A check on the loop: libsodium if it loaded, else node:crypto. Never throws. */
  private verifyHere(key: KeyObject, data: string, sigBase64: string): boolean {
    try {
      const signed = Buffer.from(data, 'utf8');
      const sig = Buffer.from(sigBase64, 'base64');
      return this.sodium !== null ? this.sodium.verify(sig, signed, rawOf(key)) : cryptoVerify(null, signed, key, sig);
    } catch {
      return false;
    }
  }

  private canStart(): boolean {
    if (this.stats.inFlight >= this.options.maxInFlight) return false;
    return this.options.verify !== undefined || this.freeLane() !== undefined || this.lanes.length < this.threads;
  }

  /** While a thread is free and the in-flight bound allows, hand it the oldest waiting checks. */
  private pump(): void {
    const { stats, options } = this;
    while (stats.queued > 0 && stats.inFlight < options.maxInFlight) {
      if (options.verify !== undefined) {
        this.startOne(options.verify, this.take(1)[0]);
        continue;
      }
      const lane = this.freeLane() ?? this.newLane();
      if (lane === undefined) return;
      const batch = this.take(Math.min(this.maxBatch, options.maxInFlight - stats.inFlight));
      lane.batches.push(batch);
      stats.inFlight += batch.length;
      stats.batches++;
      if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
      const packed = packBatch(batch);
      lane.worker.postMessage(packed, [packed]);
    }
  }

  /** Up to `n` of the oldest waiting checks, out of the queue. */
  private take(n: number): Job[] {
    const stats = this.stats;
    const out: Job[] = [];
    while (out.length < n && stats.queued > 0) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      stats.queued--;
      stats.queuedBytes -= job.bytes;
      out.push(job);
    }
    // Compact once the consumed head is most of the array (amortized O(1) per job).
    if (stats.queued === 0) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }

  /** The injected verify: one check per call. */
  private startOne(run: VerifyFn, job: Job): void {
    const stats = this.stats;
    stats.inFlight++;
    if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
    let settled = false;
    const done = (error: Error | null, ok: boolean): void => {
      if (settled) return;
      settled = true;
      stats.inFlight--;
      stats.checked++;
      // A key or signature the library cannot use does not verify.
      job.resolve(error === null && ok === true);
      this.pump();
    };
    try {
      run(null, Buffer.from(job.data, 'utf8'), job.key, Buffer.from(job.sig, 'base64'), done);
    } catch {
      done(null, false);
    }
  }

  private freeLane(): Lane | undefined {
    // The least loaded: an idle thread before one with a batch in hand.
    let best: Lane | undefined;
    for (const lane of this.lanes) {
      if (lane.resting || lane.batches.length >= LANE_DEPTH) continue;
      if (best === undefined || lane.batches.length < best.batches.length) best = lane;
    }
    // A new thread before a second batch for a busy one.
    if (best !== undefined && best.batches.length > 0 && this.lanes.length < this.threads) return undefined;
    return best;
  }

  /** Threads start on the first checks that need them, up to `threads`. */
  private newLane(): Lane | undefined {
    if (this.lanes.length >= this.threads || this.closed) return undefined;
    const lane: Lane = { worker: startVerifyThread(this.sodium?.path ?? null), batches: [], resting: false };
    lane.worker.unref();
    lane.worker.on('message', (answer: Uint8Array | { library: string }) => {
      if (!(answer instanceof Uint8Array)) return;
      const batch = lane.batches.shift();
      if (batch === undefined) return;
      this.stats.inFlight -= batch.length;
      this.stats.checked += batch.length;
      // The sessions these answers release send their next checks in this same turn of the loop.
      // The thread rests until the turn ends, then takes them all in one batch: one wake-up each
      // way for all of them, where handing it the first at once would leave the rest one by one.
      lane.resting = true;
      for (let i = 0; i < batch.length; i++) batch[i].resolve(answer[i] === 1);
      if (!this.wakeScheduled) {
        this.wakeScheduled = true;
        setImmediate(this.wake);
      }
    });
    const failed = (error: Error | number): void => {
      const at = this.lanes.indexOf(lane);
      if (at === -1) return;
      this.lanes.splice(at, 1);
      this.failures++;
      // Its checks are not lost: they are done here, and a new thread takes the next ones.
      this.fallBack(lane);
      if (this.failures >= MAX_THREAD_FAILURES) this.closed = true;
      this.options.onThreadFailure?.(typeof error === 'number' ? new Error(`check thread exited with code ${error}`) : error, !this.closed);
      if (this.closed) this.drainHere();
      else this.pump();
    };
    lane.worker.on('error', failed);
    lane.worker.on('exit', failed);
    this.lanes.push(lane);
    return lane;
  }

  /** A lane's batch, answered on the loop (its thread is gone). */
  private fallBack(lane: Lane): void {
    for (const batch of lane.batches.splice(0)) {
      this.stats.inFlight -= batch.length;
      for (const job of batch) job.resolve(this.verifyHere(job.key, job.data, job.sig));
    }
  }

  /** Every waiting check, answered on the loop. */
  private drainHere(): void {
    for (const job of this.take(this.stats.queued)) job.resolve(this.verifyHere(job.key, job.data, job.sig));
  }
}
