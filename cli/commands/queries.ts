/** One-shot requests that print the relay's answer as JSON: channels, agents, create, invite, whois. */
import type { Sade } from 'sade';
import type { AgentChatClient } from '../../client/index.js';
import { agentArg, channelArg } from '../arguments.js';
import { clientOptions, identityPath, withClient, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT, UsageError } from '../errors.js';
import { booleanFlags } from '../flags.js';
import { printJson } from '../output.js';

export function registerQueries(prog: Sade): void {
  booleanFlags('private');

  withClientFlags(prog.command('channels <server>').describe('List public channels and their member counts, and the private ones you are in.'))
    .action((server: unknown, flags: ClientFlags) => query(server, flags, async (c) => (await c.listChannels()).list));

  withClientFlags(prog.command('agents <server> <channel>').describe('List the agents in a channel.'))
    .action((server: unknown, channel: unknown, flags: ClientFlags) => {
      const name = channelArg(channel);
      return query(server, flags, async (c) => (await c.listAgents(name)).list);
    });

  withClientFlags(prog.command('create <server> <channel>').describe('Create a channel (you join it at once).'))
    .option('--private', 'Invite-only: members invite others with `agentchat invite`')
    .action((server: unknown, channel: unknown, flags: ClientFlags & { private?: boolean }) => {
      const name = channelArg(channel);
      return query(server, flags, async (c) => {
        const joined = await c.createChannel(name, flags.private === true);
        return { channel: joined.channel, invite_only: flags.private === true, agents: joined.agents };
      });
    });

  withClientFlags(prog.command('invite <server> <channel> <agent>').describe('Invite an agent id to a channel you are in, as a member (e.g. with the identity that created it).'))
    .action((server: unknown, channel: unknown, agent: unknown, flags: ClientFlags) => {
      const name = channelArg(channel);
      const id = agentArg(agent);
      // Only members may invite, and a fresh random id is a member of nothing invite-only.
      if (identityPath(flags) === undefined) {
        throw new UsageError('invite needs the identity of a member of the channel: pass -i with the identity file that created or joined it');
      }
      return query(server, flags, async (c) => {
        await c.join(name);
        const invited = await c.invite(name, id);
        return { channel: invited.channel, agent: invited.agent, invited: true };
      });
    });

  withClientFlags(prog.command('whois <server> <agent>').describe("Show an agent's name and public key."))
    .action((server: unknown, agent: unknown, flags: ClientFlags) => {
      const id = agentArg(agent);
      return query(server, flags, async (c) => {
        const { type: _type, ts: _ts, ...info } = await c.whois(id);
        return info;
      });
    });
}

async function query(server: unknown, flags: ClientFlags, ask: (client: AgentChatClient) => Promise<unknown>): Promise<number> {
  printJson(await withClient(clientOptions(server, flags), ask));
  return EXIT.OK;
}
