/**
 * Identities in a browser: generated from the CSPRNG, read from and written as the
 * identity file of PROTOCOL.md (`{name, pubkey, privkey, created}`, the same file the
 * Node CLI and agentchat 0.3.x use, so an agent keeps its id), and kept in IndexedDB.
 * IndexedDB holds the key as the identity file holds it on disk: readable by this
 * origin's scripts; export the file to keep a copy elsewhere.
 */
import { AGENT_NAME } from '../../protocol/names.js';
import type { SigningIdentity } from '../platform.js';
import { agentIdFromPem, keyPairFromSeed, pkcs8Pem, publicKeyFromText, randomKeyPair, seedFromPkcs8, signText, spkiPem, KeyFormatError } from './keys.js';

/** The identity file's JSON, exactly its four fields. */
export interface IdentityFile {
  name: string;
  /** Ed25519 SPKI PEM */
  pubkey: string;
  /** Ed25519 PKCS#8 PEM */
  privkey: string;
  /** ISO 8601 */
  created: string;
}

/** An identity ready to sign with in a browser. */
export interface BrowserIdentity extends IdentityFile, SigningIdentity {
  /** tweetnacl's 64-byte secret key, made once from the seed. */
  secretKey: Uint8Array;
}

/** A new identity; `name` follows the agent name rule (1–32 of A-Z a-z 0-9 _ -). */
export function generateIdentity(name: string, now: Date = new Date()): BrowserIdentity {
  if (!AGENT_NAME.test(name)) throw new Error(`agent name must be 1-32 of A-Z a-z 0-9 _ -, got ${JSON.stringify(name)}`);
  const pair = randomKeyPair();
  return identityFromFile({ name, pubkey: spkiPem(pair.publicKey), privkey: pkcs8Pem(pair.seed), created: now.toISOString() });
}

/** Check an identity file's fields and keys; throws with a one-line reason. */
export function identityFromFile(file: IdentityFile): BrowserIdentity {
  if (typeof file !== 'object' || file === null) throw new Error('identity is not a JSON object');
  for (const field of ['name', 'pubkey', 'privkey'] as const) {
    if (typeof file[field] !== 'string' || file[field].length === 0) throw new Error(`identity has no ${field}`);
  }
  let publicKey: Uint8Array;
  let seed: Uint8Array;
  try {
    publicKey = publicKeyFromText(file.pubkey);
    seed = seedFromPkcs8(file.privkey);
  } catch (err) {
    throw new Error(`identity ${err instanceof KeyFormatError ? err.message : 'keys are not readable'}`);
  }
  const pair = keyPairFromSeed(seed);
  // A mismatched pair would sign with one key while claiming another: every signature would fail.
  if (spkiPem(pair.publicKey) !== spkiPem(publicKey)) throw new Error('identity privkey does not belong to its pubkey');
  const pubkey = spkiPem(publicKey);
  return {
    name: file.name,
    pubkey,
    privkey: file.privkey,
    created: typeof file.created === 'string' ? file.created : new Date(0).toISOString(),
    agentId: agentIdFromPem(pubkey),
    secretKey: pair.secretKey,
  };
}

/** Parse the text of an identity file (e.g. from a file input); throws with a one-line reason. */
export function identityFromText(text: string): BrowserIdentity {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('identity file is not JSON');
  }
  return identityFromFile(json as IdentityFile);
}

/** The identity file's text, as the Node CLI writes it. */
export function identityFileText(identity: IdentityFile): string {
  const file: IdentityFile = { name: identity.name, pubkey: identity.pubkey, privkey: identity.privkey, created: identity.created };
  return JSON.stringify(file, null, 2);
}

/** Sign the UTF-8 of `data` with an identity; base64, as the relay verifies it. */
export function signWith(identity: BrowserIdentity, data: string): string {
  return signText(identity.secretKey, data);
}

const DB_NAME = 'agentchat';
const STORE = 'identities';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error(`cannot open IndexedDB "${DB_NAME}": ${request.error?.message ?? 'unknown error'}`));
  });
}

async function inStore<T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const request = run(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(new Error(`IndexedDB ${mode}: ${request.error?.message ?? 'unknown error'}`));
    });
  } finally {
    db.close();
  }
}

/** Keep an identity in this browser's IndexedDB under `key`. */
export async function saveIdentity(identity: IdentityFile, key = 'default'): Promise<void> {
  const file: IdentityFile = { name: identity.name, pubkey: identity.pubkey, privkey: identity.privkey, created: identity.created };
  await inStore('readwrite', (store) => store.put(file, key));
}

/** The identity kept under `key`, or null. */
export async function loadIdentity(key = 'default'): Promise<BrowserIdentity | null> {
  const file = await inStore<IdentityFile | undefined>('readonly', (store) => store.get(key) as IDBRequest<IdentityFile | undefined>);
  return file === undefined ? null : identityFromFile(file);
}

/** Forget the identity kept under `key` (its agent id is lost unless the file was exported). */
export async function forgetIdentity(key = 'default'): Promise<void> {
  await inStore('readwrite', (store) => store.delete(key));
}
