/**
 * channels: the built-in channels, CREATE_CHANNEL, invite-only channels and
 * INVITE, and reclaiming of empty user-created channels.
 */
import { ErrorCode } from '../../protocol/errors.js';
import { DEFAULT_CHANNELS } from '../../protocol/names.js';
import { CreateChannel, Invite } from '../../protocol/schemas.js';
import { RelayError, type Channel, type Plugin, type RelayApi, type Session } from '../../kernel/types.js';
import { behind, committed } from '../committed.js';
import type { StoredValue } from '../../store/types.js';
import { sessionKeys } from '../identity/index.js';
import { addressGroup } from '../limits/address.js';

export interface ChannelsOptions {
  /** Invitations one invite-only channel keeps (default 10,000). */
  maxInvitesPerChannel?: number;
  /** User-created channels that still exist, per creator (default 100). */
  maxCreatedPerAgent?: number;
  /** Empty user-created channels are deleted after this long (default 24 h). */
  channelIdleMs?: number;
  /** Empty channels created by an ephemeral agent (no key) are deleted after this long (default 5 min). */
  ephemeralChannelIdleMs?: number;
  /** User-created channels that still exist, per creator address (IPv6 per /64; default 200). */
  maxCreatedPerIp?: number;
  /** Channels one address may create per minute, and per key; a burst of as many (default 20; 0: no limit). */
  createsPerMinute?: number;
  /** How often to look for idle empty channels (default: a tenth of the shorter idle period, at most a minute). */
  sweepMs?: number;
}

/** A channel as the store keeps it. */
interface StoredChannel {
  [field: string]: string | boolean | number | null;
  name: string;
  invite_only: boolean;
  created_by: string | null;
  created_at: number;
  /** Made by an ephemeral agent: reclaimed minutes after it empties, not a day. */
  ephemeral: boolean;
  /** The creator's address group, so the per-address quota holds across restarts and relays (absent in older records). */
  created_group: string | null;
}

/** An invite-only channel's invitations: agent ids, and the key each is bound to. */
interface StoredInvites {
  [field: string]: string[] | Record<string, string>;
  agents: string[];
  keys: Record<string, string>;
}

export const CHANNELS_DEFAULTS = {
  maxInvitesPerChannel: 10_000, maxCreatedPerAgent: 100, channelIdleMs: 24 * 60 * 60 * 1000,
  ephemeralChannelIdleMs: 5 * 60 * 1000, maxCreatedPerIp: 200, createsPerMinute: 20,
};

/** A token bucket of channel creations, `perMinute` tokens a minute up to `perMinute`. */
interface Bucket {
  tokens: number;
  at: number;
}

function takeToken(buckets: Map<string, Bucket>, key: string, perMinute: number, now: number): number {
  let bucket = buckets.get(key);
  if (bucket === undefined) buckets.set(key, (bucket = { tokens: perMinute, at: now }));
  bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
  bucket.at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - bucket.tokens) * 60_000) / perMinute);
}

export function channels(defaults: ChannelsOptions = {}): Plugin<ChannelsOptions> {
  return {
    name: 'channels',
    async setup(relay: RelayApi, setupOptions: ChannelsOptions) {
      const options = { ...CHANNELS_DEFAULTS, ...defaults, ...setupOptions };
      const { maxInvitesPerChannel, channelIdleMs, maxCreatedPerAgent, ephemeralChannelIdleMs, maxCreatedPerIp, createsPerMinute } = options;
      const keys = sessionKeys(relay);
      /** Creation buckets by address group and by key (an agent id that has a key): ephemeral ids are free, addresses and keys are not. */
      const buckets = new Map<string, Bucket>();
      /** Existing user-created channels per creator address group, and each one's group. */
      const createdPerIp = new Map<string, number>();
      const creatorGroup = new Map<string, string>();
      /** Channels whose creator had no key: reclaimed soon after they empty. */
      const ephemeral = new Set<string>();
      const refuseCreate = (reason: string, message: string, extras: Record<string, unknown> = {}) => {
        relay.countRefusal(reason);
        return new RelayError(ErrorCode.LIMIT_EXCEEDED, message, { reason, ...extras });
      };
      /** The quota checks of one CREATE_CHANNEL, before anything is made. */
      const checkQuota = (session: Session, group: string): void => {
        if ((createdPerIp.get(group) ?? 0) >= maxCreatedPerIp) {
          throw refuseCreate('channels_per_ip', `your address created ${maxCreatedPerIp} channels that still exist, the limit; reuse one of them`);
        }
        if (createsPerMinute <= 0) return;
        const now = Date.now();
        const keyed = keys.get(session) !== undefined;
        const wait = takeToken(buckets, `ip ${group}`, createsPerMinute, now) || (keyed ? takeToken(buckets, `key ${session.agentId}`, createsPerMinute, now) : 0);
        if (wait > 0) throw refuseCreate('channel_create_rate', `channels are created at most ${createsPerMinute} a minute per address and per key; retry after ${wait} ms`, { retry_after_ms: wait });
      };
      /** Invited agent ids per invite-only channel; an id need not be online. */
      const invites = new Map<string, Set<string>>();
      /**
       * The key each invitation is bound to, per channel: the invitee's if it was connected,
       * else the first key that joins with the id. From then on only that key may use it,
       * so a key whose id collides cannot take over an invitation (ephemeral agents have no key).
       */
      const inviteKeys = new Map<string, Map<string, string>>();
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

      // Channels and invitations are durable: committed before the relay acknowledges them.
      const store = relay.store.namespace('channels');
      const channelRecord = (c: Channel): StoredChannel => ({
        name: c.name, invite_only: c.inviteOnly, created_by: c.createdBy, created_at: c.createdAt, ephemeral: ephemeral.has(c.name),
        created_group: creatorGroup.get(c.name) ?? null,
      });
      /** Count a channel against its creator's address group (restored or made on another relay). */
      const countGroup = (name: string, group: string | null | undefined) => {
        if (group === undefined || group === null || creatorGroup.has(name)) return;
        creatorGroup.set(name, group);
        createdPerIp.set(group, (createdPerIp.get(group) ?? 0) + 1);
      };
      const invitesRecord = (name: string): StoredInvites => ({ agents: [...(invites.get(name) ?? [])], keys: Object.fromEntries(inviteKeys.get(name) ?? []) });
      for (const [, record] of await store.entries<StoredChannel>('channel:')) {
        if (relay.channels.get(record.name)) continue;
        relay.channels.create(record.name, { inviteOnly: record.invite_only, restore: { createdBy: record.created_by, createdAt: record.created_at } });
        if (record.ephemeral === true) ephemeral.add(record.name);
        countGroup(record.name, record.created_group);
        if (record.created_by !== null) {
          const mine = created.get(record.created_by);
          if (mine) mine.add(record.name);
          else created.set(record.created_by, new Set([record.name]));
        }
      }
      for (const [key, record] of await store.entries<StoredInvites>('invites:')) {
        const name = key.slice('invites:'.length);
        if (!relay.channels.get(name)) continue;
        invites.set(name, new Set(record.agents));
        inviteKeys.set(name, new Map(Object.entries(record.keys)));
      }

      /**
       * Save a channel's invitations. In a cluster another relay may be inviting to the same
       * channel at the same moment: what it committed is merged in (invitations only grow,
       * the first key bound to an invitation stays) and the write is retried, so neither
       * acknowledged invitation is lost.
       */
      const saveInvites = async (name: string, what: string): Promise<void> => {
        const key = `invites:${name}`;
        if (store.putIf === undefined) return committed(store.put(key, invitesRecord(name)), what, relay.logger);
        for (let attempt = 0; attempt < 8; attempt++) {
          const current = await committed(store.get<StoredInvites>(key), what, relay.logger);
          if (current !== undefined) applyChange(key, current);
          if (await committed(store.putIf(key, invitesRecord(name), current), what, relay.logger)) return;
        }
        throw new RelayError(ErrorCode.UNAVAILABLE, `${what} could not be saved: the invitations kept changing on other relays; try again`);
      };

      /** Channels another relay made at the same moment as this one: dropped here without touching their records. */
      const notOurs = new Set<string>();
      // In a cluster the other relays create, invite and reclaim too: their changes reach this relay's tables here.
      const applyChange = (key: string, value: StoredValue | undefined) => {
        if (key.startsWith('channel:')) {
          const name = key.slice('channel:'.length);
          const record = value as StoredChannel | undefined;
          if (record === undefined) {
            // Deleted by the relay that removed its record: nothing more to remove.
            notOurs.add(name);
            if (relay.channels.get(name)) relay.channels.delete(name);
            notOurs.delete(name);
            return;
          }
          if (relay.channels.get(name)) return;
          relay.channels.create(name, { inviteOnly: record.invite_only, restore: { createdBy: record.created_by, createdAt: record.created_at } });
          if (record.ephemeral === true) ephemeral.add(name);
          countGroup(name, record.created_group);
          // The per-agent creation quota counts what the agent made on every relay.
          if (record.created_by !== null) {
            const theirs = created.get(record.created_by);
            if (theirs) theirs.add(name);
            else created.set(record.created_by, new Set([name]));
          }
        } else if (key.startsWith('invites:')) {
          const name = key.slice('invites:'.length);
          const record = value as StoredInvites | undefined;
          if (record === undefined) {
            invites.delete(name);
            inviteKeys.delete(name);
          } else {
            // Invitations only grow: merged, so one this relay is saving right now is not lost; the stored key binding wins.
            const list = invites.get(name) ?? new Set<string>();
            for (const agent of record.agents) list.add(agent);
            invites.set(name, list);
            const bound = inviteKeys.get(name) ?? new Map<string, string>();
            for (const [agent, pubkey] of Object.entries(record.keys)) bound.set(agent, pubkey);
            inviteKeys.set(name, bound);
          }
        }
      };
      relay.store.watch?.('channels', applyChange);
      if (relay.cluster !== null) {
        // A change notice may still be on its way when a client, told by another relay, acts on it:
        // before a JOIN is refused for a channel or an invitation this relay has not heard of, the store is asked.
        const reread = async (key: string) => applyChange(key, await store.get(key));
        relay.hook('frame', (_session, type, frame) => {
          if (type !== 'JOIN' || typeof frame.channel !== 'string' || relay.channels.get(frame.channel) !== undefined) return;
          return reread(`channel:${frame.channel}`).then(() => reread(`invites:${frame.channel as string}`));
        });
      }

      relay.handle('CREATE_CHANNEL', {
        schema: CreateChannel,
        async handle(session, msg) {
          const agentId = session.agentId!;
          const mine = created.get(agentId);
          if (mine && mine.size >= maxCreatedPerAgent) {
            throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `you created ${mine.size} channels that still exist, the limit; reuse one of them`);
          }
          const group = addressGroup(session.remoteAddress);
          checkQuota(session, group);
          const channel = relay.channels.create(msg.channel, { inviteOnly: msg.invite_only === true, createdBy: session });
          createdPerIp.set(group, (createdPerIp.get(group) ?? 0) + 1);
          creatorGroup.set(channel.name, group);
          if (keys.get(session) === undefined) ephemeral.add(channel.name);
          if (channel.inviteOnly) invites.set(channel.name, new Set([agentId]));
          try {
            if (store.putIf === undefined) {
              await committed(store.put(`channel:${channel.name}`, channelRecord(channel)), `channel ${channel.name}`, relay.logger);
            } else if (!(await committed(store.putIf(`channel:${channel.name}`, channelRecord(channel), undefined), `channel ${channel.name}`, relay.logger))) {
              // Another relay of the cluster made it first: theirs stands, ours was never acknowledged.
              invites.delete(channel.name);
              notOurs.add(channel.name);
              relay.channels.delete(channel.name);
              notOurs.delete(channel.name);
              applyChange(`channel:${msg.channel}`, await store.get(`channel:${msg.channel}`));
              applyChange(`invites:${msg.channel}`, await store.get(`invites:${msg.channel}`));
              throw new RelayError(ErrorCode.CHANNEL_EXISTS, `channel ${msg.channel} already exists`);
            }
            if (channel.inviteOnly) await committed(store.put(`invites:${channel.name}`, invitesRecord(channel.name)), `the invitations of ${channel.name}`, relay.logger);
            // A join hook may be async: the channel counts as created once its creator is in.
            await relay.join(session, channel.name);
          } catch (err) {
            if (err instanceof RelayError && err.code === ErrorCode.CHANNEL_EXISTS) throw err;
            // Not saved, or the creator could not join (e.g. at its channel limit): leave nothing behind.
            invites.delete(channel.name);
            relay.channels.delete(channel.name);
            behind(store.delete(`channel:${channel.name}`), `removing channel ${channel.name}`, relay.logger);
            behind(store.delete(`invites:${channel.name}`), `removing the invitations of ${channel.name}`, relay.logger);
            throw err;
          }
          if (mine) mine.add(channel.name);
          else created.set(agentId, new Set([channel.name]));
        },
      });

      relay.handle('INVITE', {
        schema: Invite,
        // Each INVITE can put a MSG in the invitee's socket: it costs what a MSG costs.
        rateClass: 'msg',
        async handle(session, msg) {
          const channel = relay.channels.get(msg.channel);
          if (!channel) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${msg.channel} does not exist`);
          if (!session.channels.has(channel.name)) throw new RelayError(ErrorCode.NOT_INVITED, `only members of ${channel.name} may invite; JOIN it first`);
          let list = invites.get(channel.name);
          if (!list) invites.set(channel.name, (list = new Set()));
          const added = !list.has(msg.agent);
          if (added) {
            if (list.size >= maxInvitesPerChannel) {
              throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `${channel.name} has ${list.size} invitations, the limit`);
            }
            list.add(msg.agent);
          }
          const invitee = relay.sessions.byAgentId(msg.agent);
          const inviteeKey = invitee && keys.get(invitee);
          const bound = inviteeKey !== undefined && inviteKeys.get(channel.name)?.has(msg.agent) !== true;
          if (inviteeKey) bindInvite(channel.name, msg.agent, inviteeKey.pubkey);
          try {
            await saveInvites(channel.name, `the invitation of ${msg.agent} to ${channel.name}`);
          } catch (err) {
            // Not saved, so not made: the invitee must not get in on an invitation the inviter was told failed.
            if (added) list.delete(msg.agent);
            if (bound) inviteKeys.get(channel.name)?.delete(msg.agent);
            throw err;
          }
          // 0.3.x clients learn of an invitation from this MSG.
          const notice = { type: 'MSG', from: session.agentId, to: msg.agent, content: `You have been invited to ${channel.name}` };
          if (invitee) relay.send(invitee, notice);
          else if (relay.cluster !== null) await relay.sendTo(msg.agent, notice).catch(() => false);
          // Extension: the inviter gets an answer, so a client can await it.
          relay.send(session, { type: 'INVITED', channel: channel.name, agent: msg.agent });
        },
      });

      relay.hook('join', (session, channel) => {
        if (!channel.inviteOnly) return;
        const agentId = session.agentId!;
        if (!invites.get(channel.name)?.has(agentId) && relay.cluster !== null) {
          // Invited on another relay a moment ago? Read the invitations once more, then decide.
          return store.get<StoredInvites>(`invites:${channel.name}`).then((record) => {
            if (record !== undefined) applyChange(`invites:${channel.name}`, record);
            return inviteCheck(session, channel);
          });
        }
        return inviteCheck(session, channel);
      });
      const inviteCheck = (session: Session, channel: Channel): RelayError | undefined => {
        const agentId = session.agentId!;
        if (!invites.get(channel.name)?.has(agentId)) {
          return new RelayError(ErrorCode.NOT_INVITED, `${channel.name} is invite-only; ask a member to INVITE ${agentId}`);
        }
        const key = keys.get(session)?.pubkey;
        const bound = inviteKeys.get(channel.name)?.get(agentId);
        if (bound !== undefined && bound !== key) {
          return new RelayError(ErrorCode.NOT_INVITED, `the invitation of ${agentId} to ${channel.name} belongs to another key than yours`);
        }
        if (key !== undefined && bound === undefined) {
          bindInvite(channel.name, agentId, key);
          behind(saveInvites(channel.name, `the invitations of ${channel.name}`), `the invitations of ${channel.name}`, relay.logger);
        }
        return undefined;
      };

      relay.hook('channelDeleted', (channel) => {
        invites.delete(channel.name);
        inviteKeys.delete(channel.name);
        if (!notOurs.has(channel.name)) {
          behind(store.delete(`channel:${channel.name}`), `removing channel ${channel.name}`, relay.logger);
          behind(store.delete(`invites:${channel.name}`), `removing the invitations of ${channel.name}`, relay.logger);
        }
        ephemeral.delete(channel.name);
        const group = creatorGroup.get(channel.name);
        if (group !== undefined) {
          creatorGroup.delete(channel.name);
          const left = (createdPerIp.get(group) ?? 1) - 1;
          if (left > 0) createdPerIp.set(group, left);
          else createdPerIp.delete(group);
        }
        if (channel.createdBy) {
          const mine = created.get(channel.createdBy);
          mine?.delete(channel.name);
          if (mine?.size === 0) created.delete(channel.createdBy);
        }
      });

      // Channel creation must not grow memory forever: empty user channels go after an idle period.
      const sweepMs = options.sweepMs ?? Math.max(10, Math.min(60_000, Math.floor(Math.min(channelIdleMs, ephemeralChannelIdleMs) / 10)));
      relay.every(sweepMs, () => {
        const now = Date.now();
        for (const channel of [...relay.channels.values()]) {
          if (channel.builtin || channel.emptySince === null) continue;
          const idleMs = ephemeral.has(channel.name) ? Math.min(ephemeralChannelIdleMs, channelIdleMs) : channelIdleMs;
          if (channel.emptySince > now - idleMs) continue;
          if (relay.cluster === null) {
            relay.channels.delete(channel.name);
            continue;
          }
          // Empty here is not empty everywhere: only a channel no relay has members in goes.
          const name = channel.name;
          relay.cluster.members(name).then((all) => {
            if (all.length === 0 && relay.channels.get(name) === channel && channel.members.size === 0) relay.channels.delete(name);
          }, () => {});
        }
        // Full buckets carry no information: forget them.
        for (const [key, bucket] of buckets) {
          if (bucket.tokens + ((now - bucket.at) * createsPerMinute) / 60_000 >= createsPerMinute) buckets.delete(key);
        }
      });
    },
  };
}
