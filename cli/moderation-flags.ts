/**
 * Public keys given on the command line or in the config file (PEM text, or a file: PEM,
 * or the JSON of an identity file or `identity --export` with its "pubkey").
 */
import { existsSync, readFileSync } from 'node:fs';
import { parsePublicKey } from '../protocol/keys.js';
import { UsageError } from './errors.js';

/** The canonical SPKI PEM of a key given as text or as a file; a usage error naming `flag` otherwise. */
export function publicKeyArg(value: string, flag: string): string {
  const text = value.trim();
  if (text.startsWith('-----BEGIN')) return parsed(text, flag);
  if (!existsSync(text)) throw new UsageError(`${flag} ${JSON.stringify(text)}: no such file, and not a PEM key`);
  const content = readFileSync(text, 'utf8').trim();
  if (!content.startsWith('{')) return parsed(content, `${flag} ${text}`);
  let pubkey: unknown;
  try {
    pubkey = (JSON.parse(content) as { pubkey?: unknown }).pubkey;
  } catch {
    throw new UsageError(`${flag} ${text}: not JSON nor a PEM key`);
  }
  if (typeof pubkey !== 'string') throw new UsageError(`${flag} ${text}: a JSON key file needs a "pubkey" field (an identity file, or the output of agentchat identity --export)`);
  return parsed(pubkey, `${flag} ${text}`);
}

function parsed(text: string, where: string): string {
  try {
    return parsePublicKey(text).pem;
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
}
