/**
 * Everything the relay writes to clients: frames, native channel fan-out, ERRORs,
 * refusals with flood accounting, slow-consumer cut-offs and closes.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { CloseCode, ErrorCode, type AnyErrorCode } from '../protocol/errors.js';
import type { ErrorFrame } from '../protocol/messages.js';
import type { ChannelState } from './channels.js';
import type { RelayConfig } from './config.js';
import { Coalescer } from './coalesce.js';
import type { HookRegistry } from './hooks.js';
import type { SessionState } from './session.js';
import { SlowConsumerWatch } from './slow-consumers.js';
import type { ErrorExtras } from './types.js';

export type OutFrame = { type: string; [field: string]: unknown };

/** The counters the outbox moves (a slice of RelayStats). */
export interface OutboxStats {
  slowConsumers: number;
  floodCloses: number;
}

export class Outbox {
  /** Set once the uWS app exists (relay.listen). */
  app: TemplatedApp | null = null;
  readonly slowConsumers: SlowConsumerWatch;
  /** Null unless config.coalesceMs > 0: then busy channels' frames are held and published together. */
  readonly coalescer: Coalescer | null;

  constructor(
    private readonly config: RelayConfig,
    private readonly hooks: HookRegistry,
    private readonly stats: OutboxStats,
  ) {
    this.slowConsumers = new SlowConsumerWatch(config, (session) => this.slowConsumer(session));
    this.coalescer = config.coalesceMs > 0 ? new Coalescer(config.coalesceMs, (channel, text) => this.publishNow(channel, text)) : null;
  }

  /** Send serialized text (or its UTF-8, when it goes to several sessions); detects slow consumers on the way. */
  sendRaw(session: SessionState, text: string | Buffer): boolean {
    if (!session.open) return false;
    const status = session.ws.send(text, false);
    // 1: written, 0: queued behind backpressure, 2: dropped past uWS's hard limit.
    if (status !== 1 && (status === 2 || this.slowConsumers.isSlow(session))) {
      this.slowConsumer(session);
      return status !== 2;
    }
    return true;
  }

  send(session: SessionState, frame: OutFrame): boolean {
    if (!session.open) return false;
    return this.sendRaw(session, JSON.stringify({ ...frame, ts: Date.now() }));
  }

  /** Every fan-out goes through here: one native publish (or held, coalescing), and the counted slow-consumer checks. */
  publishText(channel: ChannelState, text: string): void {
    if (this.coalescer === null) this.publishNow(channel, text);
    else this.coalescer.publish(channel, text);
  }

  /** Before a member joins `channel`: what it holds goes to the members it was routed to. */
  flushChannel(channel: ChannelState): void {
    if (channel.held !== null) this.coalescer?.flush(channel);
  }

  /**
   * A member leaves `channel`. What the channel holds was routed while it was a member: it gets
   * those frames directly, before anything sent after this; the others through the topic.
   */
  unsubscribe(session: SessionState, channel: ChannelState): void {
    const held = channel.held === null ? null : this.coalescer!.take(channel);
    session.ws.unsubscribe(channel.name);
    if (held === null) return;
    for (let i = 0; i < held.length; i++) this.sendRaw(session, held[i]);
    for (let i = 0; i < held.length; i++) this.publishNow(channel, held[i]);
  }

  /** A fan-out that leaves out one member (uWS's ws.publish skips its own socket); what the channel holds goes first. */
  publishExcept(channel: ChannelState, except: SessionState, text: string): void {
    this.flushChannel(channel);
    except.ws.publish(channel.name, text, false);
    this.slowConsumers.published(channel);
  }

  private publishNow(channel: ChannelState, text: string): void {
    if (this.app === null) return;
    this.app.publish(channel.name, text, false);
    this.slowConsumers.published(channel);
  }

  /** Send an ERROR (no flood accounting: for errors the relay raises on its own). */
  sendError(session: SessionState, code: AnyErrorCode, message: string, extras?: ErrorExtras): void {
    this.writeError(session, errorFrame(code, message, extras), false);
  }

  /** Answer a refused frame; a client that keeps getting refused is flooding and is closed. */
  refuse(session: SessionState, code: AnyErrorCode, message: string, extras?: ErrorExtras): void {
    this.sendError(session, code, message, extras);
    const now = Date.now();
    let flood = session.flood;
    if (flood === null || now - flood.since > this.config.floodWindowMs) session.flood = flood = { refusals: 0, since: now };
    if (++flood.refusals > this.config.floodMaxRefusals && session.open) {
      this.stats.floodCloses++;
      this.sendError(session, ErrorCode.RATE_LIMITED,
        `closing: more than ${this.config.floodMaxRefusals} refused frames in ${this.config.floodWindowMs / 1000} s; slow down and reconnect`);
      this.disconnect(session, CloseCode.POLICY, 'flooding');
    }
  }

  /** Queue SLOW_CONSUMER behind what the client has not read yet, then close it. */
  slowConsumer(session: SessionState): void {
    if (!session.open || session.slow) return;
    session.slow = true;
    this.stats.slowConsumers++;
    const message = `closing: more than ${this.config.slowConsumerBytes} bytes were waiting for this client; read faster or join fewer channels`;
    // Written directly: sendRaw would find the same slow consumer again.
    this.writeError(session, errorFrame(ErrorCode.SLOW_CONSUMER, message), true);
    this.disconnect(session, CloseCode.POLICY, 'slow consumer');
  }

  disconnect(session: SessionState, code: number, reason: string): void {
    if (!session.open) return;
    session.ws.end(code, reason);
    // uWS skips the close frame of a socket past its backpressure limit; then the socket must go at once.
    if (session.open) session.ws.close();
  }

  /** Every ERROR goes out here and is shown to the `refused` hooks; `direct` skips the slow-consumer check. */
  private writeError(session: SessionState, frame: ErrorFrame, direct: boolean): void {
    if (!session.open) return;
    const text = JSON.stringify(frame);
    if (direct) session.ws.send(text, false);
    else this.sendRaw(session, text);
    this.hooks.notify('refused', session, frame);
  }
}

/** `status` is for HTTP refusals only and never goes into a frame. */
function errorFrame(code: AnyErrorCode, message: string, extras?: ErrorExtras): ErrorFrame {
  if (extras === undefined) return { type: 'ERROR', code, message, ts: Date.now() } as ErrorFrame;
  const { status: _status, ...fields } = extras;
  return { type: 'ERROR', code, message, ...fields, ts: Date.now() } as ErrorFrame;
}
