/**
 * `agentchat mcp [server]`: a Model Context Protocol server on stdio for MCP hosts
 * (Claude Desktop, Claude Code, IDE agents). The server itself is in mcp/; it is
 * loaded only when this command runs, so other commands do not pay for the SDK.
 */
import { existsSync } from 'node:fs';
import type { Sade } from 'sade';
import { defaultIdentityPath, loadIdentity } from '../../client/index.js';
import { asAgentId, DEFAULT_PORT, isAgentId, isChannel } from '../../protocol/index.js';
import { clientOptions, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT, UsageError } from '../errors.js';
import { stringFlags } from '../flags.js';
import { status } from '../output.js';

interface McpFlags extends ClientFlags {
  join?: unknown;
  'allow-channels'?: unknown;
  'allow-dm'?: unknown;
  'max-sends'?: unknown;
  'read-max-bytes'?: unknown;
}

const DEFAULT_SERVER = `ws://localhost:${DEFAULT_PORT}`;
const DEFAULT_READ_MAX_BYTES = 65_536;

export function registerMcp(prog: Sade, version: string): void {
  stringFlags('join', 'allow-channels', 'allow-dm', 'max-sends', 'read-max-bytes');
  withClientFlags(
    prog
      .command('mcp [server]')
      .describe(`Run an MCP server on stdio: tools to send, read, join and propose through one relay connection (default ${DEFAULT_SERVER}; identity ${defaultIdentityPath()} when it exists).`),
  )
    .option('--join', 'Channels to join at start, comma-separated')
    .option('--allow-channels', 'The only channels it may send to, comma-separated (none: no channel)')
    .option('--allow-dm', 'The only agent ids it may message or propose to, comma-separated (none: nobody)')
    .option('--max-sends', 'Most messages and proposals it may send in this session')
    .option('--read-max-bytes', `Most bytes one read returns (default ${DEFAULT_READ_MAX_BYTES})`)
    .example('mcp ws://localhost:6667 --join "#general" --allow-dm none --max-sends 50')
    .action((server: unknown, flags: McpFlags) => mcp(server ?? DEFAULT_SERVER, flags, version));
}

async function mcp(server: unknown, flags: McpFlags, version: string): Promise<number> {
  const options = clientOptions(server, flags);
  const join = list(flags.join, '--join', isChannel, (c) => c) ?? [];
  const policy = {
    allowChannels: set(list(flags['allow-channels'], '--allow-channels', isChannel, (c) => c)),
    allowDm: set(list(flags['allow-dm'], '--allow-dm', isAgentId, asAgentId)),
    maxSends: flags['max-sends'] === undefined ? null : count(flags['max-sends'], '--max-sends', 0),
  };
  const readMaxBytes = flags['read-max-bytes'] === undefined ? DEFAULT_READ_MAX_BYTES : count(flags['read-max-bytes'], '--read-max-bytes', 1024);

  // -i names a file that must exist; otherwise the default identity when there is one, so the agent id is stable.
  const identityPath = flags.identity !== undefined ? String(flags.identity) : existsSync(defaultIdentityPath()) ? defaultIdentityPath() : undefined;
  const identity = identityPath === undefined ? undefined : await loadIdentity(identityPath);
  status(identity === undefined
    ? `agentchat mcp: ephemeral agent (no identity file at ${defaultIdentityPath()}; \`agentchat identity --generate\` makes one)`
    : `agentchat mcp: identity ${identityPath} (${identity.agentId})`);

  const { runMcp } = await import('../../mcp/run.js');
  await runMcp({ server: options.server, identity, identityPath, name: options.name, join, policy, readMaxBytes, version, log: (line) => status(`agentchat mcp: ${line}`) });
  return EXIT.OK;
}

/** A comma-separated flag as checked names; `none` is the empty list; undefined when the flag is absent. */
function list(value: unknown, flag: string, valid: (name: string) => boolean, normalize: (name: string) => string): string[] | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  if (text === 'none') return [];
  const names = text.split(',').map((s) => s.trim()).filter(Boolean).map(normalize);
  const bad = names.find((n) => !valid(n));
  if (bad !== undefined || names.length === 0) throw new UsageError(`${flag} takes a comma-separated list (or none), got ${JSON.stringify(value)}`);
  return names;
}

function set(names: string[] | undefined): ReadonlySet<string> | null {
  return names === undefined ? null : new Set(names);
}

function count(value: unknown, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer of at least ${min}, got ${JSON.stringify(value)}`);
  return n;
}
