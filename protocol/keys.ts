/**
 * Ed25519 keys as the protocol names them. One key always maps to one agent id:
 * whatever encoding a client sends (SPKI PEM, raw 32 bytes in base64, SPKI DER in
 * base64) is first converted to the SPKI PEM text node:crypto prints, and the id
 * is the first 8 hex chars of SHA-256 over that text.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow it. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** A base64 (or base64url) string with nothing else in it. */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

export interface PublicKey {
  /** The canonical SPKI PEM text, as KeyObject.export({type:'spki',format:'pem'}) prints it. */
  pem: string;
  /** The persistent agent id this key maps to: '@' + 8 hex chars. */
  agentId: string;
  /** Parsed once, reused for every verify. */
  key: KeyObject;
}

/** Thrown for a key the relay cannot use; the message says why in one line. */
export class KeyFormatError extends Error {}

/** Parse an Ed25519 public key given as SPKI PEM or base64 (raw 32 bytes or SPKI DER). */
export function parsePublicKey(input: string): PublicKey {
  if (typeof input !== 'string' || input.length === 0 || input.length > 4096) {
    throw new KeyFormatError('pubkey must be an Ed25519 key as SPKI PEM or base64');
  }
  let key: KeyObject;
  try {
    const text = input.trim();
    if (text.startsWith('-----BEGIN')) {
      key = createPublicKey({ key: text, format: 'pem' });
    } else if (BASE64.test(text)) {
      const bytes = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
      const der = bytes.length === 32 ? Buffer.concat([SPKI_ED25519_PREFIX, bytes]) : bytes;
      key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    } else {
      throw new KeyFormatError('pubkey must be an Ed25519 key as SPKI PEM or base64');
    }
  } catch (err) {
    if (err instanceof KeyFormatError) throw err;
    throw new KeyFormatError('pubkey is not a readable Ed25519 key (SPKI PEM or base64 of the 32 raw bytes)');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyFormatError(`pubkey is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; only Ed25519 is accepted`);
  }
  const pem = key.export({ type: 'spki', format: 'pem' }).toString();
  return { pem, agentId: agentIdFromPem(pem), key };
}

/** '@' + the first 8 hex chars of SHA-256 of the SPKI PEM text (16 for the opt-in long id). */
export function agentIdFromPem(pem: string, long = false): string {
  return '@' + createHash('sha256').update(pem).digest('hex').slice(0, long ? 16 : 8);
}

/** The 32 raw public key bytes of an Ed25519 key (the tail of its SPKI DER), as libsodium takes them. */
export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
}

/** The 32 raw public key bytes, base64: the compact form of a key. */
export function rawPublicKeyBase64(key: KeyObject): string {
  return rawPublicKey(key).toString('base64');
}

const BASE64_SIG = /^[A-Za-z0-9+/]{86}==$/;

/** Whether `sig` can be an Ed25519 signature: 64 bytes are 88 base64 chars. Anything else cannot verify. */
export function isSignatureShape(sig: unknown): sig is string {
  return typeof sig === 'string' && BASE64_SIG.test(sig);
}

/** Verify a base64 Ed25519 signature over the UTF-8 of `data`. Never throws. */
export function verifySignature(key: KeyObject, data: string, sigBase64: string): boolean {
  if (!isSignatureShape(sigBase64)) return false;
  try {
    return verify(null, Buffer.from(data, 'utf8'), key, Buffer.from(sigBase64, 'base64'));
  } catch {
    return false;
  }
}

/** Sign the UTF-8 of `data` with an Ed25519 private key; base64 signature. */
export function signString(privateKey: KeyObject | string, data: string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  return sign(null, Buffer.from(data, 'utf8'), key).toString('base64');
}

export interface KeyPairPem {
  /** SPKI PEM */
  publicKey: string;
  /** PKCS#8 PEM */
  privateKey: string;
}

/** A new Ed25519 key pair in the encodings of the identity file. */
export function generateKeyPair(): KeyPairPem {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
