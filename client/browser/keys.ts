/**
 * Ed25519 keys in pure JavaScript (tweetnacl), in the encodings of the protocol: the
 * SPKI PEM and PKCS#8 PEM that node:crypto prints, made from the 32 raw bytes with the
 * fixed DER prefixes of Ed25519, so a browser's key has the same agent id and the same
 * identity file as a Node one. Ed25519 is deterministic: one seed, one signature per text.
 */
import nacl from 'tweetnacl';
import { sha256 } from './sha256.js';

/** DER of an Ed25519 SubjectPublicKeyInfo up to the 32 key bytes. */
const SPKI_PREFIX = hexBytes('302a300506032b6570032100');
/** DER of an Ed25519 PKCS#8 PrivateKeyInfo (version 0, no public key) up to the 32 seed bytes. */
const PKCS8_PREFIX = hexBytes('302e020100300506032b657004220420');

/** Thrown for a key text that is not an Ed25519 key in the expected encoding; the message says why. */
export class KeyFormatError extends Error {}

export interface KeyPair {
  /** 32 raw bytes. */
  publicKey: Uint8Array;
  /** tweetnacl's 64-byte secret key (seed then public key). */
  secretKey: Uint8Array;
  /** The 32-byte seed the pair is made from: what PKCS#8 stores. */
  seed: Uint8Array;
}

/** The key pair of a 32-byte seed. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new KeyFormatError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: pair.publicKey, secretKey: pair.secretKey, seed: Uint8Array.from(seed) };
}

/** A new key pair from the browser's CSPRNG (crypto.getRandomValues, through tweetnacl). */
export function randomKeyPair(): KeyPair {
  return keyPairFromSeed(nacl.randomBytes(32));
}

/** The SPKI PEM text of a raw public key, byte for byte as node:crypto exports it. */
export function spkiPem(publicKey: Uint8Array): string {
  return pem('PUBLIC KEY', concat(SPKI_PREFIX, publicKey));
}

/** The PKCS#8 PEM text of a seed, byte for byte as node:crypto exports it. */
export function pkcs8Pem(seed: Uint8Array): string {
  return pem('PRIVATE KEY', concat(PKCS8_PREFIX, seed));
}

/** The 32 raw bytes of an Ed25519 SPKI PEM (or base64 of the raw bytes or of the SPKI DER). */
export function publicKeyFromText(text: string): Uint8Array {
  const der = derOf(text, 'PUBLIC KEY');
  if (der.length === 32) return der;
  if (der.length !== SPKI_PREFIX.length + 32 || !startsWith(der, SPKI_PREFIX)) throw new KeyFormatError('pubkey is not an Ed25519 SPKI key');
  return der.subarray(SPKI_PREFIX.length);
}

/** The 32-byte seed of an Ed25519 PKCS#8 PEM as node:crypto and agentchat 0.3.x write it. */
export function seedFromPkcs8(text: string): Uint8Array {
  const der = derOf(text, 'PRIVATE KEY');
  if (der.length !== PKCS8_PREFIX.length + 32 || !startsWith(der, PKCS8_PREFIX)) throw new KeyFormatError('privkey is not an Ed25519 PKCS#8 key');
  return der.subarray(PKCS8_PREFIX.length);
}

/** '@' + the first 8 hex chars of SHA-256 of the SPKI PEM text (16 for the long id): the relay's rule. */
export function agentIdFromPem(spki: string, long = false): string {
  return '@' + hex(sha256(new TextEncoder().encode(spki))).slice(0, long ? 16 : 8);
}

/** Sign the UTF-8 of `data`; base64 signature, as the relay verifies it. */
export function signText(secretKey: Uint8Array, data: string): string {
  return toBase64(nacl.sign.detached(new TextEncoder().encode(data), secretKey));
}

/** Verify a base64 signature over the UTF-8 of `data`. Never throws. */
export function verifyText(publicKey: Uint8Array, data: string, sigBase64: string): boolean {
  let sig: Uint8Array;
  try {
    sig = fromBase64(sigBase64);
  } catch {
    return false;
  }
  if (sig.length !== 64 || publicKey.length !== 32) return false;
  return nacl.sign.detached.verify(new TextEncoder().encode(data), sig, publicKey);
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

function hexBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function pem(label: string, der: Uint8Array): string {
  const body = toBase64(der).replace(/.{64}(?=.)/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The DER bytes of a PEM with this label, or of bare base64. */
function derOf(text: string, label: string): Uint8Array {
  if (typeof text !== 'string' || text.length === 0 || text.length > 4096) throw new KeyFormatError(`expected an Ed25519 ${label} as PEM`);
  let body = text.trim();
  if (body.startsWith('-----BEGIN')) {
    const match = new RegExp(`^-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----$`).exec(body);
    if (match === null) throw new KeyFormatError(`expected a PEM "${label}" block`);
    body = match[1].replace(/\s+/g, '');
  }
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(body)) throw new KeyFormatError(`expected an Ed25519 ${label} as PEM or base64`);
  return fromBase64(body);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}
