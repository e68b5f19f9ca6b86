/**
 * The identity file (PROTOCOL.md § Identity file): `{name, pubkey, privkey, created}`,
 * byte-compatible with what agentchat 0.3.x writes, so an agent keeps its id.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateKeyPair, parsePublicKey } from '../protocol/index.js';

/** The file's JSON, exactly its four fields. */
export interface IdentityFile {
  name: string;
  /** Ed25519 SPKI PEM */
  pubkey: string;
  /** Ed25519 PKCS#8 PEM */
  privkey: string;
  /** ISO 8601 */
  created: string;
}

/** An identity ready to sign with. */
export interface LoadedIdentity extends IdentityFile {
  /** '@' + 8 hex chars, the id the relay assigns to this key. */
  agentId: string;
  /** Parsed once, reused for every signature. */
  privateKey: KeyObject;
}

/** The public part, safe to share (`agentchat identity --export`). */
export interface PublicIdentity {
  name: string;
  pubkey: string;
  agent_id: string;
}

/** Thrown when saving would replace an existing identity (and with it the agent's id). */
export class IdentityExistsError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`identity file ${path} already exists (use --force to overwrite it and lose its agent id)`);
    this.name = 'IdentityExistsError';
    this.path = path;
  }
}

/** `~/.agentchat/identity.json` (HOME decides, as in 0.3.x). */
export function defaultIdentityPath(): string {
  return join(homedir(), '.agentchat', 'identity.json');
}

/** A new Ed25519 identity. */
export function generateIdentity(name: string, now: Date = new Date()): LoadedIdentity {
  const { publicKey, privateKey } = generateKeyPair();
  return identityFromFile({ name, pubkey: publicKey, privkey: privateKey, created: now.toISOString() });
}

/** Check the four fields and parse the keys; throws with a one-line reason. */
export function identityFromFile(file: IdentityFile): LoadedIdentity {
  for (const field of ['name', 'pubkey', 'privkey'] as const) {
    if (typeof file[field] !== 'string' || file[field].length === 0) throw new Error(`identity has no ${field}`);
  }
  const publicKey = parsePublicKey(file.pubkey);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(file.privkey);
  } catch {
    throw new Error('identity privkey is not a readable PKCS#8 PEM key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('identity privkey is not an Ed25519 key');
  // A mismatched pair would sign with one key while claiming another: every signature would fail.
  const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  if (derived !== publicKey.pem) throw new Error('identity privkey does not belong to its pubkey');
  return {
    name: file.name,
    pubkey: file.pubkey,
    privkey: file.privkey,
    created: typeof file.created === 'string' ? file.created : new Date(0).toISOString(),
    agentId: publicKey.agentId,
    privateKey,
  };
}

/** Read and check an identity file. */
export async function loadIdentity(path: string = defaultIdentityPath()): Promise<LoadedIdentity> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const create = path === defaultIdentityPath() ? 'agentchat identity --generate' : `agentchat identity --generate --file ${path}`;
    throw new Error(code === 'ENOENT' ? `no identity file at ${path} (create one with \`${create}\`)` : `cannot read identity file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`identity file ${path} is not JSON`);
  }
  if (typeof json !== 'object' || json === null) throw new Error(`identity file ${path} is not a JSON object`);
  try {
    return identityFromFile(json as IdentityFile);
  } catch (err) {
    throw new Error(`identity file ${path}: ${(err as Error).message}`);
  }
}

/**
 * Write an identity file with mode 0600 (its directory 0700). Refuses to replace an
 * existing file unless `overwrite`: losing the private key loses the agent id.
 */
export async function saveIdentity(identity: IdentityFile, path: string = defaultIdentityPath(), options: { overwrite?: boolean } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const file: IdentityFile = { name: identity.name, pubkey: identity.pubkey, privkey: identity.privkey, created: identity.created };
  const text = JSON.stringify(file, null, 2);
  try {
    await writeFile(path, text, { mode: 0o600, flag: options.overwrite ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new IdentityExistsError(path);
    throw err;
  }
  // `mode` only applies when the file is created; an overwritten file keeps its old bits.
  await chmod(path, 0o600);
}

/** The shareable part of an identity. */
export function publicIdentity(identity: LoadedIdentity): PublicIdentity {
  return { name: identity.name, pubkey: identity.pubkey, agent_id: identity.agentId };
}
