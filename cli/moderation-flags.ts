/**
 * Public keys given on the command line (PEM text, or a file: PEM, or the JSON of an
 * identity file or `identity --export` with its "pubkey"), and serve's moderation flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ModerationOptions } from '../plugins/moderation/index.js';
import { parsePublicKey } from '../protocol/keys.js';
import { UsageError } from './errors.js';
import { parseNumber } from './numbers.js';

export interface ModerationFlags {
  'admin-key'?: unknown;
  'verified-only-channels'?: boolean;
  'verified-only-dms'?: boolean;
  'min-key-age'?: unknown;
}

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

/** The moderation plugin's options from serve's flags, or null when none was given. */
export function moderationFlags(flags: ModerationFlags): ModerationOptions | null {
  const options: ModerationOptions = {};
  const adminKeys = flags['admin-key'] === undefined ? [] : [flags['admin-key']].flat();
  if (adminKeys.length > 0) options.adminKeys = adminKeys.map((k) => publicKeyArg(String(k), '--admin-key'));
  if (flags['verified-only-channels'] === true) options.verifiedOnlyChannels = true;
  if (flags['verified-only-dms'] === true) options.verifiedOnlyDms = true;
  if (flags['min-key-age'] !== undefined) options.minKeyAgeMs = parseNumber(flags['min-key-age'], '--min-key-age', { min: 0, unit: 'seconds' }) * 1000;
  return Object.keys(options).length > 0 ? options : null;
}
