/** The options every client command shares: server URL, --identity/-i, --name/-n. */
import type { Sade } from 'sade';
import { AgentChatClient, type AgentChatClientOptions } from '../client/index.js';
import { UsageError } from './errors.js';
import { stringFlags } from './flags.js';

export interface ClientFlags {
  identity?: string;
  name?: string | number;
}

/** Add --identity and --name to the command being defined. */
export function withClientFlags(prog: Sade): Sade {
  stringFlags('identity', 'name');
  return prog
    .option('-i, --identity', 'Identity file to connect with (persistent id, signed messages)')
    .option('-n, --name', 'Agent name to identify as');
}

/** Client options from a server argument and the shared flags; a bad URL is a usage error. */
export function clientOptions(server: unknown, flags: ClientFlags, extra: Partial<AgentChatClientOptions> = {}): AgentChatClientOptions {
  if (typeof server !== 'string' || !/^wss?:\/\/[^/]/.test(server)) {
    throw new UsageError(`server must be a ws:// or wss:// URL, got ${JSON.stringify(server)}`);
  }
  const options: AgentChatClientOptions = { server, ...extra };
  if (flags.identity !== undefined) options.identity = String(flags.identity);
  if (flags.name !== undefined) options.name = String(flags.name);
  return options;
}

/** Connect, run `fn`, and always disconnect. */
export async function withClient<T>(server: unknown, flags: ClientFlags, fn: (client: AgentChatClient) => Promise<T>): Promise<T> {
  const client = new AgentChatClient(clientOptions(server, flags));
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.disconnect();
  }
}

/** A required positional argument (sade already checks presence; this checks it is text). */
export function requireArg(value: unknown, name: string): string {
  if (value === undefined || value === null || value === '') throw new UsageError(`missing <${name}>`);
  return String(value);
}
