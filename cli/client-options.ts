/**
 * The options every client command shares: the server URL, --identity/-i, --ephemeral
 * and --name/-n. One identity rule for all of them: -i FILE if given, else
 * ~/.agentchat/identity.json when it exists, else (or with --ephemeral) a fresh random id.
 */
import { existsSync } from 'node:fs';
import type { Sade } from 'sade';
import { AgentChatClient, defaultIdentityPath, type AgentChatClientOptions } from '../client/index.js';
import { UsageError } from './errors.js';
import { booleanFlags, stringFlags } from './flags.js';
import { relayUrl } from './url.js';

export interface ClientFlags {
  identity?: unknown;
  ephemeral?: boolean;
  name?: unknown;
}

/** Add --identity, --ephemeral and --name to the command being defined. */
export function withClientFlags(prog: Sade): Sade {
  stringFlags('identity', 'name');
  booleanFlags('ephemeral');
  return prog
    .option('-i, --identity', `Identity file to connect with: persistent id, signed messages (default ${defaultIdentityPath()} when it exists)`)
    .option('--ephemeral', 'Connect with a fresh random id, ignoring the default identity file')
    .option('-n, --name', 'Agent name to identify as');
}

/** The identity file a command connects with, by the one rule above; undefined: ephemeral. */
export function identityPath(flags: ClientFlags): string | undefined {
  if (flags.ephemeral === true) {
    if (flags.identity !== undefined) throw new UsageError('choose one of --identity and --ephemeral');
    return undefined;
  }
  if (flags.identity !== undefined) return String(flags.identity);
  const path = defaultIdentityPath();
  return existsSync(path) ? path : undefined;
}

/** Client options from a server argument and the shared flags; a bad URL is a usage error. */
export function clientOptions(server: unknown, flags: ClientFlags, extra: Partial<AgentChatClientOptions> = {}): AgentChatClientOptions {
  const options: AgentChatClientOptions = { server: relayUrl(server), ...extra };
  const identity = identityPath(flags);
  if (identity !== undefined) options.identity = identity;
  if (flags.name !== undefined) options.name = String(flags.name);
  return options;
}

/** Connect, run `fn`, and always disconnect. */
export async function withClient<T>(options: AgentChatClientOptions, fn: (client: AgentChatClient) => Promise<T>): Promise<T> {
  const client = new AgentChatClient(options);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.disconnect();
  }
}
