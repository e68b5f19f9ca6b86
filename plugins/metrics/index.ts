/**
 * metrics: GET /metrics in Prometheus text format (prom-client), read from the kernel's
 * counters when scraped: nothing per message, no label per agent. `token` keeps the
 * endpoint private on a public relay (Authorization: Bearer <token>).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Plugin, RelayApi } from '../../kernel/types.js';
import { clusterCounts } from '../cluster/index.js';
import { signatureCounts, signatureVerifier } from '../identity/index.js';
import { MODERATION_ACTIONS, MODERATION_REFUSALS, moderationCounts } from '../moderation/counts.js';

export interface MetricsOptions {
  /** When set, /metrics answers only requests with `Authorization: Bearer <token>`. */
  token?: string;
}

/** 0.1 ms to 2.5 s: a committed SQLite write with synchronous=FULL is about 0.1–10 ms on a healthy disk. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function metrics(defaults: MetricsOptions = {}): Plugin<MetricsOptions> {
  return {
    name: 'metrics',
    setup(relay: RelayApi, setupOptions: MetricsOptions) {
      const { token } = { ...defaults, ...setupOptions };
      const registry = new Registry();
      const { stats, sessions, channels } = relay;
      const gauge = (name: string, help: string, read: (g: Gauge) => void, labelNames: string[] = []) =>
        new Gauge({ name, help, labelNames, registers: [registry], collect() { read(this); } });
      const total = (name: string, help: string, read: () => number) =>
        new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });

      gauge('agentchat_sessions', 'Live sessions by state', (g) => {
        g.set({ state: 'identified' }, sessions.identifiedCount);
        g.set({ state: 'unidentified' }, sessions.size - sessions.identifiedCount);
      }, ['state']);
      gauge('agentchat_channels', 'Channels that exist', (g) => g.set(channels.size));
      new Counter({
        name: 'agentchat_frames_received_total', help: 'Client frames received, by type', labelNames: ['type'], registers: [registry],
        collect() {
          this.reset();
          for (const [type, n] of Object.entries(relay.frameCounts())) if (n > 0) this.inc({ type }, n);
        },
      });
      total('agentchat_messages_delivered_total', 'MSG frames written to receivers', () => stats.messagesDelivered);
      total('agentchat_messages_routed_total', 'MSG frames routed (one per accepted MSG)', () => stats.messagesRouted);
      total('agentchat_slow_consumer_closes_total', 'Sessions closed for reading too slowly', () => stats.slowConsumers);
      total('agentchat_connections_total', 'WebSocket connections opened', () => stats.connections);
      total('agentchat_hook_timeouts_total', 'Async plugin hooks that failed closed on their timeout', () => stats.hookTimeouts);
      total('agentchat_plugin_errors_total', 'Plugin failures contained', () => stats.pluginErrors);
      total('agentchat_upgrades_refused_total', 'WebSocket upgrades an upgrade hook refused', () => stats.upgradesRefused);

      // Refusals are rare: counted as they happen, by code (codes are the relay's, not the client's).
      const refusals = new Counter({ name: 'agentchat_refusals_total', help: 'ERRORs sent to clients, by code', labelNames: ['code'], registers: [registry] });
      relay.hook('refused', (_session, error) => refusals.inc({ code: error.code }));

      const signatures = signatureCounts(relay);
      new Counter({
        name: 'agentchat_signature_verifications_total', help: 'Signed MSGs checked, by result', labelNames: ['result'], registers: [registry],
        collect() {
          this.reset();
          this.inc({ result: 'valid' }, signatures.valid);
          this.inc({ result: 'invalid' }, signatures.invalid);
          this.inc({ result: 'replayed' }, signatures.replayed);
        },
      });

      // Where signatures are checked: off the loop in batches (checks ÷ batches is how much each thread wake-up was shared).
      const verifier = () => signatureVerifier(relay);
      total('agentchat_signature_checks_threaded_total', 'Signatures (MSGs and proposal steps) checked on the check threads', () => verifier()?.checked ?? 0);
      total('agentchat_signature_check_batches_total', 'Batches handed to the check threads', () => verifier()?.batches ?? 0);
      total('agentchat_signature_checks_refused_total', 'Signed frames refused RATE_LIMITED because the check queue was full', () => verifier()?.refusedBusy ?? 0);
      gauge('agentchat_signature_checks', 'Signature checks with the threads and waiting for one', (g) => {
        g.set({ state: 'in_flight' }, verifier()?.inFlight ?? 0);
        g.set({ state: 'queued' }, verifier()?.queued ?? 0);
      }, ['state']);

      const moderation = moderationCounts(relay);
      new Counter({
        name: 'agentchat_moderation_actions_total', help: 'Moderation actions, by action (expire: a ban or mute ran out)', labelNames: ['action'], registers: [registry],
        collect() {
          this.reset();
          for (const action of MODERATION_ACTIONS) this.inc({ action }, moderation.actions[action]);
        },
      });
      new Counter({
        name: 'agentchat_moderation_refusals_total', help: 'Upgrades, IDENTIFYs and frames moderation refused, by rule (ban, mute, gate)', labelNames: ['rule'], registers: [registry],
        collect() {
          this.reset();
          for (const rule of MODERATION_REFUSALS) this.inc({ rule }, moderation.refusals[rule]);
        },
      });
      gauge('agentchat_moderation_rules', 'Bans and mutes in force', (g) => {
        g.set({ action: 'ban' }, moderation.active.ban);
        g.set({ action: 'mute' }, moderation.active.mute);
      }, ['action']);

      const lag = monitorEventLoopDelay({ resolution: 20 });
      lag.enable();
      gauge('agentchat_event_loop_lag_seconds', 'Event loop delay over the last scrape interval (p99)', (g) => {
        g.set(lag.percentile(99) / 1e9);
        lag.reset();
      });
      gauge('agentchat_store_healthy', 'Whether the store takes writes (1) or not (0)', (g) => g.set(relay.store.health() === null ? 1 : 0));
      // Timed by the store per write to its backend: each committed write, and each write-behind batch (never per MSG).
      const storeSeconds = new Histogram({
        name: 'agentchat_store_operation_seconds', help: 'Store writes by operation (put, delete, append, flush of written-behind history, trim, drop, probe)',
        labelNames: ['op'], buckets: STORE_BUCKETS, registers: [registry],
      });
      const storeFailures = new Counter({ name: 'agentchat_store_failures_total', help: 'Store writes that failed, by operation', labelNames: ['op'], registers: [registry] });
      relay.store.observe?.((op, seconds, error) => {
        storeSeconds.observe({ op }, seconds);
        if (error !== undefined) storeFailures.inc({ op });
      });
      relay.hook('close', () => void lag.disable());

      // In a cluster: what crossed Redis (interest routing shows here: a relay with no members of a channel receives none of it).
      if (relay.cluster !== null) {
        const cluster = clusterCounts(relay);
        total('agentchat_cluster_channel_messages_received_total', 'Channel MSGs this relay received from Redis (only for channels it has members in)', () => cluster.channelMessagesReceived);
        total('agentchat_cluster_forwarded_received_total', 'DMs and frames other relays sent to this relay\'s inbox', () => cluster.forwardedReceived);
        total('agentchat_cluster_reaped_total', 'Sessions of dead relays removed from presence', () => cluster.reaped);
        gauge('agentchat_cluster_subscriptions', 'Channel topics this relay is subscribed to on Redis', (g) => g.set(cluster.subscriptions));
        total('agentchat_cluster_publishes_total', 'Channel MSGs published through Redis (each one round trip)', () => cluster.publishes);
        total('agentchat_cluster_publish_seconds_total', 'Time spent in those round trips: divide by publishes for the mean latency', () => cluster.publishSeconds);
      }

      relay.route('/metrics', async (request) => {
        if (token !== undefined && request.headers.authorization !== `Bearer ${token}`) {
          return { status: 401, headers: { 'content-type': 'text/plain' }, body: 'metrics need Authorization: Bearer <metrics token>\n' };
        }
        return { status: 200, headers: { 'content-type': registry.contentType }, body: await registry.metrics() };
      });
    },
  };
}
