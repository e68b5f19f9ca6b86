/**
 * listing: LIST_CHANNELS (public channels, plus the invite-only ones the asker is a member of,
 * marked `private: true`) and LIST_AGENTS (members only for invite-only channels), in name
 * order, paged at 64 KiB a frame with a `cursor`.
 */
import { ErrorCode } from '../../protocol/errors.js';
import type { ChannelsFrame } from '../../protocol/messages.js';
import { ListAgents, ListChannels } from '../../protocol/schemas.js';
import { RelayError, type Plugin } from '../../kernel/types.js';
import { page } from './page.js';

export function listing(): Plugin {
  return {
    name: 'listing',
    setup(relay) {
      relay.handle('LIST_CHANNELS', {
        schema: ListChannels,
        handle(session, msg) {
          const answer = (counts: ReadonlyMap<string, number> | null) => {
            const all: ChannelsFrame['list'] = [];
            for (const channel of relay.channels.values()) {
              const agents = counts?.get(channel.name) ?? channel.members.size;
              if (!channel.inviteOnly) all.push({ name: channel.name, agents });
              // A member already knows the channel: showing it leaks nothing. An extension field a 0.3.x client ignores.
              else if (session.channels.has(channel.name)) all.push({ name: channel.name, agents, private: true });
            }
            all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
            relay.send(session, { type: 'CHANNELS', ...page(all, (c) => c.name, msg.cursor) });
          };
          // In a cluster the counts are every relay's members.
          if (relay.cluster !== null) return relay.cluster.memberCounts().then(answer);
          answer(null);
        },
      });
      relay.handle('LIST_AGENTS', {
        schema: ListAgents,
        handle(session, msg) {
          const channel = relay.channels.get(msg.channel);
          if (!channel) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${msg.channel} does not exist`);
          if (channel.inviteOnly && !session.channels.has(channel.name)) {
            throw new RelayError(ErrorCode.NOT_INVITED, `${channel.name} is invite-only; only its members may list its agents`);
          }
          const answer = (all: string[]) => void relay.send(session, { type: 'AGENTS', channel: channel.name, ...page(all.sort(), (id) => id, msg.cursor) });
          if (relay.cluster !== null) return relay.cluster.members(channel.name).then(answer);
          answer([...channel.members.keys()]);
        },
      });
    },
  };
}
