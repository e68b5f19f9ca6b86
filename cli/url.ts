/** The one check of a relay URL given on the command line. */
import { UsageError } from './errors.js';

const EXAMPLE = 'ws://localhost:6667';

/** A ws:// or wss:// URL the client can dial; anything else is a usage error saying what is wrong. */
export function relayUrl(value: unknown): string {
  const text = typeof value === 'string' ? value : '';
  if (!/^wss?:\/\/[^/]/i.test(text)) throw new UsageError(`server must be a ws:// or wss:// URL such as ${EXAMPLE}, got ${JSON.stringify(value)}`);
  // URL() refuses ports above 65535 with a bare "Invalid URL": say which part is wrong.
  const port = /^wss?:\/\/(?:\[[^\]]*\]|[^/:?#]*):(\d+)/i.exec(text)?.[1];
  if (port !== undefined && Number(port) > 65535) throw new UsageError(`server ${text}: port ${port} is out of range (1-65535)`);
  try {
    new URL(text);
  } catch {
    throw new UsageError(`server ${JSON.stringify(text)} is not a valid URL; expected e.g. ${EXAMPLE}`);
  }
  return text;
}
