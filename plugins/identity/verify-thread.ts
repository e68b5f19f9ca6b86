/**
 * The signature-check threads: worker_threads that verify batches of Ed25519 signatures, so
 * the machine's other cores do the ~45–70 µs a check costs while the event loop keeps relaying.
 *
 * A batch is one transferred ArrayBuffer, packed by `packBatch`:
 *
 *     u32 count, then per check: u32 length of the signed bytes | 32 raw public key bytes | 64 signature bytes | signed bytes
 *
 * and the answer is one byte per check (1 valid, 0 not), in order. One message each way per
 * batch, not per check: under load a thread's wake-up and the reply's wake-up of the loop are
 * shared by every check that waited while it was busy.
 *
 * libsodium (the optional sodium-native package) verifies in ~45 µs here, node:crypto
 * (OpenSSL) in ~70 µs; a thread uses libsodium when it loads and node:crypto otherwise.
 */
import { Worker } from 'node:worker_threads';

/** Where the checks are done: libsodium when sodium-native loads, else node:crypto. */
export type Ed25519Library = 'libsodium' | 'node:crypto';

/** Bytes a check adds to a batch besides its signed text. */
export const CHECK_OVERHEAD = 4 + 32 + 64;

export interface PackedCheck {
  /** The 32 raw public key bytes. */
  raw: Uint8Array;
  /** Base64 of the 64 signature bytes (already checked to be 88 chars). */
  sig: string;
  /** The signed text (UTF-8 on the wire) and its byte length. */
  data: string;
  bytes: number;
}

/** One batch in the layout above, ready to transfer. */
export function packBatch(checks: readonly PackedCheck[]): ArrayBuffer {
  let size = 4;
  for (const c of checks) size += CHECK_OVERHEAD + c.bytes;
  const out = Buffer.from(new ArrayBuffer(size));
  out.writeUInt32LE(checks.length, 0);
  let at = 4;
  for (const c of checks) {
    out.writeUInt32LE(c.bytes, at);
    out.set(c.raw, at + 4);
    out.write(c.sig, at + 36, 64, 'base64');
    out.write(c.data, at + 100, c.bytes, 'utf8');
    at += CHECK_OVERHEAD + c.bytes;
  }
  return out.buffer as ArrayBuffer;
}

/**
 * The thread's program, as source text: a function's own source would not do, because a
 * TypeScript loader or a bundler rewrites it (esbuild turns `require` into its own `__require`
 * and wraps named functions in `__name`), and a file path differs between the sources and dist/.
 * Plain CommonJS; `workerData.sodiumPath` is sodium-native's entry, or null for node:crypto.
 */
const THREAD_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
let sodium = null;
if (workerData.sodiumPath !== null) {
  try { sodium = require(workerData.sodiumPath); } catch { sodium = null; }
}
// node:crypto needs a KeyObject: made once per key, in a bounded cache (agents sign many messages).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
function keyOf(raw) {
  const id = raw.toString('latin1');
  let key = keys.get(id);
  if (key === undefined) {
    if (keys.size >= 4096) keys.clear();
    key = crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    keys.set(id, key);
  }
  return key;
}
parentPort.postMessage({ library: sodium !== null ? 'libsodium' : 'node:crypto' });
parentPort.on('message', (batch) => {
  const buf = Buffer.from(batch);
  const count = buf.readUInt32LE(0);
  const answers = new Uint8Array(count);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const length = buf.readUInt32LE(at);
    const raw = buf.subarray(at + 4, at + 36);
    const sig = buf.subarray(at + 36, at + 100);
    const data = buf.subarray(at + 100, at + 100 + length);
    at += 100 + length;
    try {
      answers[i] = (sodium !== null ? sodium.crypto_sign_verify_detached(sig, data, raw) : crypto.verify(null, data, keyOf(raw), sig)) ? 1 : 0;
    } catch {
      answers[i] = 0;
    }
  }
  parentPort.postMessage(answers, [answers.buffer]);
});
`;

/** A started check thread. `sodiumPath` is sodium-native's resolved entry, or null for node:crypto. */
export function startVerifyThread(sodiumPath: string | null): Worker {
  return new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { sodiumPath },
    // A check thread needs little heap; it must not hold the relay's process open.
    resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
    stdout: false,
    stderr: false,
  });
}
