/**
 * channels: the built-in channels, CREATE_CHANNEL, invite-only channels and
 * INVITE, and reclaiming of empty user-created channels.
 */
import { ErrorCode } from '../../protocol/errors.js';
import { DEFAULT_CHANNELS } from '../../protocol/names.js';
import { CreateChannel, Invite } from '../../protocol/schemas.js';
import { RelayError, type Plugin, type RelayApi } from '../../kernel/types.js';
import { sessionKeys } from '../identity/index.js';

export interface ChannelsOptions {
  /** Invitations one invite-only channel keeps (default 10,000). */
  maxInvitesPerChannel?: number;
  /** User-created channels that still exist, per creator (default 100). */
  maxCreatedPerAgent?: number;
  /** Empty user-created channels are deleted after this long (default 24 h). */
  channelIdleMs?: number;
  /** How often to look for idle empty channels (default: a tenth of the idle period, at most a minute). */
  sweepMs?: number;
}

const DEFAULTS = { maxInvitesPerChannel: 10_000, maxCreatedPerAgent: 100, channelIdleMs: 24 * 60 * 60 * 1000 };

export function channels(defaults: ChannelsOptions = {}): Plugin<ChannelsOptions> {
  return {
    name: 'channels',
    setup(relay: RelayApi, setupOptions: ChannelsOptions) {
      const options = { ...DEFAULTS, ...defaults, ...setupOptions };
      const { maxInvitesPerChannel, channelIdleMs, maxCreatedPerAgent } = options;
      /** Invited agent ids per invite-only channel; an id need not be online. */
      const invites = new Map<string, Set<string>>();
      /**
       * The key each invitation is bound to, per channel: the invitee's if it was connected,
       * else the first key that joins with the id. From then on only that key may use it,
       * so a key whose id collides cannot take over an invitation (ephemeral agents have no key).
       */
      const inviteKeys = new Map<string, Map<string, string>>();
      const keys = sessionKeys(relay);
      const bindInvite = (channel: string, agentId: string, pubkey: string) => {
        let bound = inviteKeys.get(channel);
        if (!bound) inviteKeys.set(channel, (bound = new Map()));
        if (!bound.has(agentId)) bound.set(agentId, pubkey);
      };
      /** User-created channels that still exist, per creator: bounds what one agent can leave behind. */
      const created = new Map<string, Set<string>>();

      for (const name of DEFAULT_CHANNELS) {
        if (!relay.channels.get(name)) relay.channels.create(name, { builtin: true });
      }

      relay.handle('CREATE_CHANNEL', {
        schema: CreateChannel,
        async handle(session, msg) {
          const agentId = session.agentId!;
          const mine = created.get(agentId);
          if (mine && mine.size >= maxCreatedPerAgent) {
            throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `you created ${mine.size} channels that still exist, the limit; reuse one of them`);
          }
          const channel = relay.channels.create(msg.channel, { inviteOnly: msg.invite_only === true, createdBy: session });
          if (channel.inviteOnly) invites.set(channel.name, new Set([agentId]));
          try {
            // A join hook may be async: the channel counts as created once its creator is in.
            await relay.join(session, channel.name);
          } catch (err) {
            // The creator could not join (e.g. at its channel limit): leave nothing behind.
            invites.delete(channel.name);
            relay.channels.delete(channel.name);
            throw err;
          }
          if (mine) mine.add(channel.name);
          else created.set(agentId, new Set([channel.name]));
        },
      });

      relay.handle('INVITE', {
        schema: Invite,
        handle(session, msg) {
          const channel = relay.channels.get(msg.channel);
          if (!channel) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${msg.channel} does not exist`);
          if (!session.channels.has(channel.name)) throw new RelayError(ErrorCode.NOT_INVITED, `only members of ${channel.name} may invite; JOIN it first`);
          let list = invites.get(channel.name);
          if (!list) invites.set(channel.name, (list = new Set()));
          if (!list.has(msg.agent)) {
            if (list.size >= maxInvitesPerChannel) {
              throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `${channel.name} has ${list.size} invitations, the limit`);
            }
            list.add(msg.agent);
          }
          const invitee = relay.sessions.byAgentId(msg.agent);
          const inviteeKey = invitee && keys.get(invitee);
          if (inviteeKey) bindInvite(channel.name, msg.agent, inviteeKey.pubkey);
          // 0.3.x clients learn of an invitation from this MSG.
          if (invitee) relay.send(invitee, { type: 'MSG', from: session.agentId, to: msg.agent, content: `You have been invited to ${channel.name}` });
          // Extension: the inviter gets an answer, so a client can await it.
          relay.send(session, { type: 'INVITED', channel: channel.name, agent: msg.agent });
        },
      });

      relay.hook('join', (session, channel) => {
        if (!channel.inviteOnly) return;
        const agentId = session.agentId!;
        if (!invites.get(channel.name)?.has(agentId)) {
          return new RelayError(ErrorCode.NOT_INVITED, `${channel.name} is invite-only; ask a member to INVITE ${agentId}`);
        }
        const key = keys.get(session)?.pubkey;
        const bound = inviteKeys.get(channel.name)?.get(agentId);
        if (bound !== undefined && bound !== key) {
          return new RelayError(ErrorCode.NOT_INVITED, `the invitation of ${agentId} to ${channel.name} belongs to another key than yours`);
        }
        if (key !== undefined) bindInvite(channel.name, agentId, key);
      });

      relay.hook('channelDeleted', (channel) => {
        invites.delete(channel.name);
        inviteKeys.delete(channel.name);
        if (channel.createdBy) {
          const mine = created.get(channel.createdBy);
          mine?.delete(channel.name);
          if (mine?.size === 0) created.delete(channel.createdBy);
        }
      });

      // Channel creation must not grow memory forever: empty user channels go after an idle period.
      const sweepMs = options.sweepMs ?? Math.max(10, Math.min(60_000, Math.floor(channelIdleMs / 10)));
      relay.every(sweepMs, () => {
        const cutoff = Date.now() - channelIdleMs;
        for (const channel of [...relay.channels.values()]) {
          if (!channel.builtin && channel.emptySince !== null && channel.emptySince <= cutoff) relay.channels.delete(channel.name);
        }
      });
    },
  };
}
