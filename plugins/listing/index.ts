/**
 * listing: LIST_CHANNELS (public channels, plus the invite-only ones the asker is a member of,
 * marked `private: true`) and LIST_AGENTS (members only for invite-only channels).
 */
import { ErrorCode } from '../../protocol/errors.js';
import type { ChannelsFrame } from '../../protocol/messages.js';
import { ListAgents, ListChannels } from '../../protocol/schemas.js';
import { RelayError, type Plugin } from '../../kernel/types.js';

export function listing(): Plugin {
  return {
    name: 'listing',
    setup(relay) {
      relay.handle('LIST_CHANNELS', {
        schema: ListChannels,
        handle(session) {
          const list: ChannelsFrame['list'] = [];
          for (const channel of relay.channels.values()) {
            if (!channel.inviteOnly) list.push({ name: channel.name, agents: channel.members.size });
            // A member already knows the channel: showing it leaks nothing. An extension field a 0.3.x client ignores.
            else if (session.channels.has(channel.name)) list.push({ name: channel.name, agents: channel.members.size, private: true });
          }
          relay.send(session, { type: 'CHANNELS', list });
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
          relay.send(session, { type: 'AGENTS', channel: channel.name, list: [...channel.members.keys()] });
        },
      });
    },
  };
}
