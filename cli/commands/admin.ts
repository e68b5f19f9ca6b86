/**
 * `agentchat admin kick|ban|unban|mute|unmute|bans <server> …`: an operator's actions,
 * each an ADMIN frame signed with the admin key of `--identity` (one the relay lists with
 * `serve --admin-key`) over adminSigningString, for the URL this session proved.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Sade } from 'sade';
import type { AgentChatClient } from '../../client/index.js';
import {
  ADMIN_ACTIONS, adminSigningString, asAgentId, isAgentId, normalizeRelayUrl, parsePublicKey, signString,
  type AdminAction, type AdminOkFrame, type AdminSigningFields, type BansFrame, type ModerationRule,
} from '../../protocol/index.js';
import { requireArg } from '../arguments.js';
import { clientOptions, identityPath, withClient, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT, UsageError } from '../errors.js';
import { publicKeyArg } from '../moderation-flags.js';
import { booleanFlags, stringFlags } from '../flags.js';
import { printJson } from '../output.js';

interface AdminFlags extends ClientFlags {
  reason?: unknown;
  for?: unknown;
  'by-key'?: boolean;
}

type Target = Pick<AdminSigningFields, 'agent' | 'key' | 'address'>;

const TARGET_HELP = 'an @agent id, a key (SPKI PEM text, or a file: PEM or an identity/export JSON with "pubkey"), or an IP address or CIDR';
/** At most this many pages of `bans` are fetched (each up to 64 KiB): a bound, not a limit anyone meets. */
const MAX_PAGES = 1_000;

export function registerAdmin(prog: Sade): void {
  stringFlags('reason', 'for');
  // Not --key: serve's --key (the TLS key) takes a value, and the parser knows one kind per name.
  booleanFlags('by-key');
  const actions: Array<[Exclude<AdminAction, 'bans'>, string, boolean]> = [
    ['kick', 'Close the sessions of an agent, key or address now (they may come back)', false],
    ['ban', 'Refuse an agent, key or address from now on (kept across restarts) and close its sessions', true],
    ['unban', 'Lift a ban', false],
    ['mute', 'Refuse the MSGs of an agent, key or address (it still reads)', true],
    ['unmute', 'Lift a mute', false],
  ];
  // The group's own entry: `agentchat admin --help` lists the actions; `admin nope …` is a usage error.
  prog.command('admin [action]')
    .describe(`Operator actions on a relay, signed with an admin key (serve --admin-key): ${actions.map(([a]) => a).join(', ')}, bans. See \`agentchat admin <action> --help\`.`)
    .action((action: unknown) => {
      throw new UsageError(action === undefined ? `name an admin action: ${ADMIN_ACTIONS.join(', ')}` : `unknown admin action ${JSON.stringify(action)}; choose one of ${ADMIN_ACTIONS.join(', ')}`);
    });
  for (const [action, describe, lasting] of actions) {
    let command = withClientFlags(prog.command(`admin ${action} <server> <target>`).describe(`${describe}. Target: ${TARGET_HELP}. Needs -i with an admin key.`));
    if (action !== 'unban' && action !== 'unmute') command = command.option('--reason', 'Why, told to the agent and kept with the rule');
    if (lasting) command = command.option('--for', 'How long, e.g. 90s, 30m, 12h, 7d (default: until lifted)');
    command = command.option('--by-key', 'With an @agent target: act on the key that agent is connected with, not only its id');
    command
      .example(`admin ${action} ws://localhost:6667 ${action === 'kick' ? '@1a2b3c4d' : action.endsWith('ban') ? '203.0.113.0/24' : '@1a2b3c4d'} -i admin.json`)
      .action((server: unknown, target: unknown, flags: AdminFlags) => act(action, server, target, flags));
  }
  withClientFlags(prog.command('admin bans <server>').describe('List the bans and mutes in force, as JSON. Needs -i with an admin key.'))
    .example('admin bans ws://localhost:6667 -i admin.json')
    .action((server: unknown, flags: AdminFlags) => list(server, flags));
}

async function act(action: Exclude<AdminAction, 'bans'>, server: unknown, targetValue: unknown, flags: AdminFlags): Promise<number> {
  const options = adminClientOptions(server, flags);
  let target = targetArg(targetValue);
  if (flags['by-key'] === true) {
    if (target.agent === undefined) throw new UsageError('--by-key goes with an @agent target: the key that agent is connected with');
    target = { key: target.agent };
  }
  const reason = flags.reason === undefined ? undefined : String(flags.reason);
  const expiresIn = flags.for === undefined ? undefined : duration(flags.for);
  const ok = await withClient(options, (client) => {
    const fields: Omit<AdminSigningFields, 'url' | 'ts'> = { action, ...target, ...(reason === undefined ? {} : { reason }) };
    if (expiresIn !== undefined) fields.expires = Date.now() + expiresIn;
    return send<AdminOkFrame>(client, fields, 'ADMIN_OK');
  });
  // A key is shown by the agent id it maps to: a PEM on one line of JSON reads badly.
  const shown = ok.kind === 'key' ? ok.agent_id ?? parsePublicKey(ok.value).agentId : ok.value;
  printJson({ action: ok.action, kind: ok.kind, target: shown, sessions: ok.sessions, reason: ok.reason, expires: iso(ok.expires) });
  return EXIT.OK;
}

async function list(server: unknown, flags: AdminFlags): Promise<number> {
  const options = adminClientOptions(server, flags);
  const rules = await withClient(options, async (client) => {
    const all: ModerationRule[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < MAX_PAGES; i++) {
      const page = await send<BansFrame>(client, { action: 'bans', ...(cursor === undefined ? {} : { cursor }) }, 'BANS');
      all.push(...page.list);
      if (page.cursor === undefined) break;
      cursor = page.cursor;
    }
    return all;
  });
  printJson(rules.map((r) => ({ ...r, expires: iso(r.expires), at: iso(r.at) })));
  return EXIT.OK;
}

/** Sign the ADMIN frame for the URL this client proved and await its answer. */
function send<T extends { type: string }>(client: AgentChatClient, fields: Omit<AdminSigningFields, 'url' | 'ts'>, answer: string): Promise<T> {
  const identity = client.identity!;
  const signed: AdminSigningFields = { ...fields, url: normalizeRelayUrl(client.server), ts: Date.now() };
  return client.request<T>({ type: 'ADMIN', ...signed, sig: signString(identity.privateKey, adminSigningString(signed)) }, { answer, label: answer });
}

/** The client options of an admin command: an identity file is required (an ephemeral id is never an admin). */
function adminClientOptions(server: unknown, flags: AdminFlags) {
  const options = clientOptions(server, flags);
  if (identityPath(flags) === undefined) {
    throw new UsageError('admin commands sign with an admin key: pass -i with its identity file (the relay lists its public key with serve --admin-key)');
  }
  return options;
}

/** `<target>` as the ADMIN field it fills. */
function targetArg(value: unknown): Target {
  const text = requireArg(value, 'target').trim();
  if (text.startsWith('@')) {
    const id = asAgentId(text);
    if (!isAgentId(id)) throw new UsageError(`<target> ${JSON.stringify(text)} is not an agent id: @ and 8 letters or digits`);
    return { agent: id };
  }
  const [address] = text.split('/');
  if (isIP(address) !== 0) return { address: text };
  if (text.startsWith('-----BEGIN') || existsSync(text)) return { key: publicKeyArg(text, '<target>') };
  throw new UsageError(`<target> must be ${TARGET_HELP}; got ${JSON.stringify(text)}`);
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `12h`, `7d` or a bare number of seconds, in ms. */
function duration(value: unknown): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(String(value).trim());
  const ms = match === null ? NaN : Number(match[1]) * UNITS[match[2] || 's'];
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`--for must be a duration like 90s, 30m, 12h or 7d, got ${JSON.stringify(value)}`);
  return ms;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
