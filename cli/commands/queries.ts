/** One-shot requests that print the relay's answer as JSON: channels, agents, create, invite, whois. */
import type { Sade } from 'sade';
import { requireArg, withClient, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT } from '../errors.js';
import { booleanFlags } from '../flags.js';
import { printJson } from '../output.js';

export function registerQueries(prog: Sade): void {
  booleanFlags('private');

  withClientFlags(prog.command('channels <server>').describe('List public channels and their member counts.'))
    .action((server: unknown, flags: ClientFlags) => query(server, flags, async (c) => (await c.listChannels()).list));

  withClientFlags(prog.command('agents <server> <channel>').describe('List the agents in a channel.'))
    .action((server: unknown, channel: unknown, flags: ClientFlags) =>
      query(server, flags, async (c) => (await c.listAgents(requireArg(channel, 'channel'))).list));

  withClientFlags(prog.command('create <server> <channel>').describe('Create a channel (you join it at once).'))
    .option('--private', 'Invite-only: members invite others with `agentchat invite`')
    .action((server: unknown, channel: unknown, flags: ClientFlags & { private?: boolean }) =>
      query(server, flags, async (c) => {
        const joined = await c.createChannel(requireArg(channel, 'channel'), flags.private === true);
        return { channel: joined.channel, invite_only: flags.private === true, agents: joined.agents };
      }));

  withClientFlags(prog.command('invite <server> <channel> <agent>').describe('Invite an agent id to a channel you are in (with -i, the channel you created).'))
    .action((server: unknown, channel: unknown, agent: unknown, flags: ClientFlags) =>
      query(server, flags, async (c) => {
        const name = requireArg(channel, 'channel');
        // Only members may invite; a session starts in no channel.
        await c.join(name);
        const invited = await c.invite(name, requireArg(agent, 'agent'));
        return { channel: invited.channel, agent: invited.agent, invited: true };
      }));

  withClientFlags(prog.command('whois <server> <agent>').describe("Show an agent's name and public key."))
    .action((server: unknown, agent: unknown, flags: ClientFlags) =>
      query(server, flags, async (c) => {
        const { type: _type, ts: _ts, ...info } = await c.whois(requireArg(agent, 'agent'));
        return info;
      }));
}

async function query(server: unknown, flags: ClientFlags, ask: Parameters<typeof withClient>[2]): Promise<number> {
  printJson(await withClient(server, flags, ask));
  return EXIT.OK;
}
