/**
 * cluster: several relays on one Redis behave, to any client, as one relay.
 *
 * - Channel MSGs go through Redis (one script: msg_id, history, publish), and every relay
 *   with members there fans them out through uWS. A relay subscribes to a channel's topic
 *   only while it has members there (interest routing): one Redis subscription per
 *   channel per relay, never per client, and no traffic for channels it has no one in.
 * - DMs go to the inbox of the relay that holds the target, and only to it.
 * - Presence (who is in which channel, who is connected where) lives in Redis hashes;
 *   AGENT_JOINED/LEFT cross relays on the channel's topic.
 * - One live session per key cluster-wide: a newer verified session displaces the older
 *   one wherever it is.
 * - Each relay heartbeats; the sessions of a relay that stopped heartbeating are removed
 *   from presence, with AGENT_LEFT sent, by whichever relay claims the clean-up first.
 * - Redis away: what needs it is refused with UNAVAILABLE (never acknowledged, never
 *   silently dropped), /readyz says not ready, and on its return the relay subscribes
 *   again and writes its presence back.
 *
 * Channels, invitations, keys and proposals are shared through the Redis store
 * (store/redis.ts); their plugins keep their caches current with its change notices.
 */
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { Channel, ClusterLink, Plugin, RelayApi } from '../../kernel/types.js';
import { RelayError } from '../../kernel/types.js';
import { ErrorCode } from '../../protocol/errors.js';
import { redisConnectionOptions, redisKeys } from '../../store/redis.js';
import { displace, sessionKeys } from '../identity/index.js';
import { FORWARD, PRESENCE, PUBLISH_MSG, RELEASE } from './scripts.js';

export interface ClusterOptions {
  /** redis://host:port of the cluster's Redis (serve --redis). */
  url?: string;
  /** Key prefix, as the Redis store's (default 'ac:'). */
  prefix?: string;
  /** How often this relay says it is alive (default 2 s). */
  heartbeatMs?: number;
  /** A relay silent this long is dead: its sessions leave presence (default 15 s; with the check, gone within 30 s). */
  deadAfterMs?: number;
  /** Messages kept per channel in the shared history (default 1,000, as the history plugin's `keep`). */
  historyKeep?: number;
}

export const CLUSTER_DEFAULTS = { prefix: 'ac:', heartbeatMs: 2_000, deadAfterMs: 15_000, historyKeep: 1_000 } as const;

/** Counters of what crossed Redis, for metrics and the interest-routing proof. */
export interface ClusterCounts {
  /** Channel MSGs this relay received from Redis (0 for a channel it has no member in). */
  channelMessagesReceived: number;
  /** Per channel, the same count (channels this relay ever subscribed to). */
  receivedByChannel: Map<string, number>;
  /** DMs and frames other relays forwarded to this one. */
  forwardedReceived: number;
  /** Channel topics subscribed now. */
  subscriptions: number;
  /** Sessions of dead relays removed from presence. */
  reaped: number;
  /** Round trips to Redis on the MSG path: count and total seconds (for the latency metric). */
  publishes: number;
  publishSeconds: number;
}

export function clusterCounts(relay: RelayApi): ClusterCounts {
  return relay.shared<ClusterCounts>('cluster-counts', () => ({
    channelMessagesReceived: 0, receivedByChannel: new Map(), forwardedReceived: 0, subscriptions: 0, reaped: 0, publishes: 0, publishSeconds: 0,
  }));
}

/** What this relay knows of a channel it has members in. */
interface Interest {
  /** Agents in the channel on other relays. */
  remote: Set<string>;
  /** Resolves once the topic is subscribed and `remote` loaded. */
  ready: Promise<void>;
  subscribed: boolean;
  /** Last JOIN through it (ms): a topic no join used lately and with no member here is dropped. */
  touched: number;
}

const unavailable = (what: string) =>
  new RelayError(ErrorCode.UNAVAILABLE, `the relay cannot reach its cluster's Redis, so ${what}; retry shortly`);

export function cluster(defaults: ClusterOptions = {}): Plugin<ClusterOptions> {
  return {
    name: 'cluster',
    dependencies: ['identity'],
    async setup(relay: RelayApi, setupOptions: ClusterOptions) {
      const options = { ...CLUSTER_DEFAULTS, ...defaults, ...setupOptions };
      if (options.url === undefined) throw new Error('cluster needs `url`: the Redis the relays share (serve --redis redis://host:port)');
      const p = options.prefix;
      const me = randomBytes(6).toString('hex');
      const counts = clusterCounts(relay);
      const keys = sessionKeys(relay);
      const log = relay.logger;

      const K = {
        // The history plugin's log in the Redis store: the publish script appends to it.
        lastSeq: redisKeys.lastSeqs(p, 'history'),
        log: (channel: string) => redisKeys.log(p, 'history', channel),
        topic: (channel: string) => `${p}ch:${channel}`,
        members: (channel: string) => `${p}m:${channel}`,
        relayChannels: (relay: string) => `${p}rc:${relay}`,
        inbox: `${p}relay:`,
        agents: `${p}agents`,
        relays: `${p}relays`,
        reap: (relay: string) => `${p}reap:${relay}`,
      };
      const topicPrefix = K.topic('');

      const commands = new Redis(options.url, redisConnectionOptions());
      const subscriber = new Redis(options.url, { ...redisConnectionOptions(), enableOfflineQueue: true });
      commands.on('error', () => {});
      subscriber.on('error', () => {});
      try {
        await Promise.all([commands.connect(), subscriber.connect()]);
      } catch (err) {
        commands.disconnect();
        subscriber.disconnect();
        throw new Error(`cannot reach Redis at ${options.url}: ${(err as Error).message}; start it or fix --redis`);
      }
      const run = (script: string, keyCount: number, ...args: Array<string | number>) => commands.eval(script, keyCount, ...args);

      const interest = new Map<string, Interest>();

      // ---- what arrives from Redis ---------------------------------------------

      const onTopic = (channel: string, message: string) => {
        const kind = message.charCodeAt(0);
        if (kind === 77 /* M */) {
          const space = message.indexOf(' ');
          const msgId = Number(message.slice(1, space));
          counts.channelMessagesReceived++;
          counts.receivedByChannel.set(channel, (counts.receivedByChannel.get(channel) ?? 0) + 1);
          relay.deliverChannel(channel, message.slice(space + 1), msgId);
        } else if (kind === 80 /* P */) {
          // 'P<origin> <except or -> <frame>'
          const a = message.indexOf(' ');
          const b = message.indexOf(' ', a + 1);
          const origin = message.slice(1, a);
          const except = message.slice(a + 1, b);
          const text = message.slice(b + 1);
          if (origin !== me) {
            const remote = interest.get(channel)?.remote;
            const frame = JSON.parse(text) as { type: string; agent: string; agents?: string[] };
            for (const agent of frame.agents ?? [frame.agent]) {
              if (frame.type === 'AGENT_JOINED') remote?.add(agent);
              else remote?.delete(agent);
            }
          }
          relay.deliverFrame(channel, text, except === '-' ? null : except);
        }
      };

      const onInbox = (message: string) => {
        counts.forwardedReceived++;
        const kind = message.charCodeAt(0);
        const space = message.indexOf(' ');
        const agentId = space === -1 ? message.slice(1) : message.slice(1, space);
        if (kind === 68 /* D */) {
          relay.deliverDirect(agentId, message.slice(space + 1));
        } else if (kind === 88 /* X */) {
          const older = relay.sessions.byAgentId(agentId);
          if (older !== undefined) displace(relay, older, 'on another relay of this cluster');
        }
      };

      subscriber.on('message', (topic: string, message: string) => {
        try {
          if (topic.startsWith(topicPrefix)) onTopic(topic.slice(topicPrefix.length), message);
          else onInbox(message);
        } catch (err) {
          log.error('cluster_message', { topic, error: (err as Error).message });
        }
      });
      await subscriber.subscribe(K.inbox + me);

      // ---- interest routing ------------------------------------------------------

      const loadRemote = async (channel: string, into: Set<string>) => {
        const members = await commands.hgetall(K.members(channel));
        into.clear();
        for (const [agent, holder] of Object.entries(members)) if (holder !== me) into.add(agent);
      };

      const subscribe = (channel: string): Interest => {
        let entry = interest.get(channel);
        if (entry !== undefined) return entry;
        const made: Interest = { remote: new Set<string>(), subscribed: false, ready: Promise.resolve(), touched: Date.now() };
        made.ready = (async () => {
          await subscriber.subscribe(K.topic(channel));
          counts.subscriptions++;
          made.subscribed = true;
          await loadRemote(channel, made.remote);
        })();
        entry = made;
        interest.set(channel, entry);
        entry.ready.catch(() => {
          // Not subscribed: the next join tries again.
          if (interest.get(channel) !== made) return;
          if (made.subscribed) unsubscribe(channel);
          else interest.delete(channel);
        });
        return entry;
      };

      /** Stop hearing a channel this relay subscribed to. */
      const unsubscribe = (name: string) => {
        interest.delete(name);
        counts.subscriptions--;
        void subscriber.unsubscribe(K.topic(name)).catch(() => {});
      };

      const unsubscribeIfEmpty = (channel: Channel) => {
        const entry = interest.get(channel.name);
        if (entry !== undefined && channel.members.size === 0 && entry.subscribed) unsubscribe(channel.name);
      };

      // A join waits until this relay hears the channel: from then on no message is missed.
      relay.hook('join', (_session, channel) => {
        if (commands.status !== 'ready') return unavailable(`it cannot join ${channel.name} now`);
        const entry = subscribe(channel.name);
        entry.touched = Date.now();
        if (entry.subscribed && commands.status === 'ready') return;
        return entry.ready.then(() => undefined, () => unavailable(`it cannot join ${channel.name} now`));
      });
      relay.hook('leave', (_session, channel) => unsubscribeIfEmpty(channel));
      relay.hook('channelDeleted', (channel) => unsubscribeIfEmpty(channel));

      // ---- one live session per agent id, cluster-wide -------------------------

      /** A relay whose heartbeat is recent (a dead one keeps its entry until it is cleaned up). */
      const alive = async (holder: string) => Number((await commands.zscore(K.relays, holder)) ?? 0) > Date.now() - options.deadAfterMs;

      relay.hook('identify', async (session, identity) => {
        const agentId = identity.agentId;
        try {
          const holder = await commands.hget(K.agents, agentId);
          if (holder !== null && holder !== me && (await alive(holder))) {
            if (keys.get(session)?.verified !== true) {
              return new RelayError(ErrorCode.INVALID_MSG, `identity ${agentId} is already connected to another relay of this cluster; close that session first`);
            }
            await commands.publish(K.inbox + holder, `X${agentId}`);
          }
          await commands.hset(K.agents, agentId, me);
        } catch (err) {
          if (err instanceof RelayError) throw err;
          return unavailable('it cannot admit you now');
        }
      });
      relay.hook('disconnect', (session) => {
        if (session.agentId !== null) void run(RELEASE, 1, K.agents, session.agentId, me).catch(() => {});
      });

      // ---- the link the kernel uses ----------------------------------------------

      const link: ClusterLink = {
        async publish(channel, body) {
          const started = performance.now();
          let id: unknown;
          try {
            id = await run(PUBLISH_MSG, 2, K.lastSeq, K.log(channel.name), channel.name, body, K.topic(channel.name), Date.now(), options.historyKeep);
          } catch {
            throw unavailable('your message was not sent');
          }
          counts.publishes++;
          counts.publishSeconds += (performance.now() - started) / 1000;
          return Number(id);
        },
        publishFrame(channel, frame, except) {
          const text = JSON.stringify({ ...frame, ts: Date.now() });
          const agents = (frame.agents as string[] | undefined) ?? [frame.agent as string];
          const kind = frame.type === 'AGENT_JOINED' ? 'j' : frame.type === 'AGENT_LEFT' ? 'l' : '-';
          void run(PRESENCE, 2, K.members(channel.name), K.relayChannels(me), me, kind, K.topic(channel.name), `P${me} ${except ?? '-'} ${text}`, channel.name, ...(kind === '-' ? [] : agents))
            .catch((err: Error) => log.warn('cluster_presence', { channel: channel.name, error: err.message }));
        },
        async forward(agentId, text) {
          try {
            return Number(await run(FORWARD, 1, K.agents, agentId, K.inbox, `D${agentId} ${text}`)) > 0;
          } catch {
            throw unavailable(`your message to ${agentId} was not sent`);
          }
        },
        remoteMembers(channel) {
          const remote = interest.get(channel)?.remote;
          return remote === undefined || remote.size === 0 ? [] : [...remote];
        },
        async members(channel) {
          try {
            return await commands.hkeys(K.members(channel));
          } catch {
            throw unavailable(`the members of ${channel} cannot be listed`);
          }
        },
        async memberCounts() {
          const names = [...relay.channels.values()].map((c) => c.name);
          try {
            const batch = commands.pipeline();
            for (const name of names) batch.hlen(K.members(name));
            const answers = (await batch.exec()) ?? [];
            return new Map(names.map((name, i) => [name, Number(answers[i]?.[1] ?? 0)]));
          } catch {
            throw unavailable('channels cannot be counted');
          }
        },
        async online(agentId) {
          try {
            return (await commands.hexists(K.agents, agentId)) === 1;
          } catch {
            throw unavailable(`whether ${agentId} is connected cannot be told`);
          }
        },
      };
      relay.useCluster(link);

      // ---- liveness: heartbeats, and the clean-up of relays that died -------------

      /**
       * Take out of presence the agents `holder` is listed with but no longer has (`here` says
       * which it still has), telling each of their channels (AGENT_LEFT), and forget where the
       * ones no longer `connected` were. Returns how many left channels.
       */
      const leaveFor = async (holder: string, here: (channel: string, agent: string) => boolean, connected: (agent: string) => boolean): Promise<number> => {
        let left = 0;
        for (const channel of await commands.smembers(K.relayChannels(holder))) {
          for (const [agent, at] of Object.entries(await commands.hgetall(K.members(channel)))) {
            if (at !== holder || here(channel, agent)) continue;
            const text = JSON.stringify({ type: 'AGENT_LEFT', channel, agent, name: null, ts: Date.now() });
            await run(PRESENCE, 2, K.members(channel), K.relayChannels(holder), holder, 'l', K.topic(channel), `P${holder} - ${text}`, channel, agent);
            left++;
          }
        }
        const located = await commands.hgetall(K.agents);
        const gone = Object.keys(located).filter((agent) => located[agent] === holder && !connected(agent));
        if (gone.length > 0) await commands.hdel(K.agents, ...gone);
        return left;
      };

      /** Remove a relay's sessions from presence, telling every channel it had members in. */
      const reap = async (dead: string) => {
        counts.reaped += await leaveFor(dead, () => false, () => false);
        await commands.multi().del(K.relayChannels(dead)).zrem(K.relays, dead).exec();
      };

      const beat = () => commands.zadd(K.relays, Date.now(), me).catch(() => {});
      await beat();
      relay.every(options.heartbeatMs, () => {
        void beat();
        // Topics a refused or abandoned JOIN left subscribed, with nobody here.
        for (const [name, entry] of interest) {
          const channel = relay.channels.get(name);
          if (entry.subscribed && (channel === undefined || channel.members.size === 0) && Date.now() - entry.touched > options.deadAfterMs) unsubscribe(name);
        }
        void (async () => {
          const dead = await commands.zrangebyscore(K.relays, '-inf', Date.now() - options.deadAfterMs);
          for (const relayId of dead) {
            if (relayId === me) continue;
            // One relay cleans up after each dead one.
            if ((await commands.set(K.reap(relayId), me, 'PX', options.deadAfterMs * 4, 'NX')) !== 'OK') continue;
            log.warn('cluster_relay_dead', { relay: relayId });
            await reap(relayId);
          }
        })().catch(() => {});
      });

      // Redis came back: write this relay's presence again (Redis may have lost it) and reload the others'.
      let wasReady = true;
      commands.on('close', () => { wasReady = false; });
      commands.on('ready', () => {
        if (wasReady) return;
        wasReady = true;
        log.info('cluster_redis_back', { relay: me });
        void resync().catch((err: Error) => log.warn('cluster_resync', { error: err.message }));
      });
      const resync = async () => {
        await beat();
        const batch = commands.pipeline();
        for (const session of relay.sessions.values()) if (session.agentId !== null) batch.hset(K.agents, session.agentId, me);
        for (const channel of relay.channels.values()) {
          for (const agent of channel.members.keys()) batch.hset(K.members(channel.name), agent, me);
          if (channel.members.size > 0) batch.sadd(K.relayChannels(me), channel.name);
        }
        await batch.exec();
        // Who left while Redis was away: still listed as here, no longer here.
        await leaveFor(me, (channel, agent) => relay.channels.get(channel)?.members.has(agent) === true, (agent) => relay.sessions.byAgentId(agent) !== undefined);
        for (const [channel, entry] of interest) await loadRemote(channel, entry.remote);
      };

      relay.hook('close', async () => {
        // Leaving the cluster: our sessions leave presence now rather than after deadAfterMs.
        try {
          await reap(me);
        } catch {
          // Redis away: the others reap this relay once its heartbeat is old.
        }
        subscriber.disconnect();
        await commands.quit().catch(() => commands.disconnect());
      });
    },
  };
}

