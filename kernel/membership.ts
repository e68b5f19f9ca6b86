/**
 * Who is who and who is where: admitting sessions under an agent id, channel
 * membership (join, leave, presence) and routing MSGs (native fan-out for channels,
 * the agent-id index for DMs). Each veto point may go async; the action then finishes
 * when its hooks settle, after the state it checked is checked again.
 */
import { ErrorCode } from '../protocol/errors.js';
import type { MsgFrame } from '../protocol/messages.js';
import { AGENT_ID, AGENT_NAME } from '../protocol/names.js';
import type { Channels, ChannelState } from './channels.js';
import type { RelayConfig } from './config.js';
import type { Decision, HookRegistry } from './hooks.js';
import type { Outbox, OutFrame } from './outbox.js';
import { PresenceBatcher } from './presence.js';
import type { Sessions, SessionState } from './session.js';
import { RelayError, type ClusterLink, type Identity, type InboundMsg, type JoinOptions } from './types.js';

const NO_OPTIONS: JoinOptions = Object.freeze({});

/** A DM target connected to another relay of the cluster. */
const ELSEWHERE = Symbol('elsewhere');

/**
 * The MSG a validated frame becomes. `msg_id` is in the literal even when not known yet (a
 * cluster's Redis assigns it): JSON leaves an undefined field out, and the object keeps one shape.
 */
function msgFrame(from: string, msg: InboundMsg, msgId: number | undefined): MsgFrame {
  return msg.sig === undefined
    ? { type: 'MSG', from, to: msg.to, content: msg.content, ts: Date.now(), msg_id: msgId }
    : { type: 'MSG', from, to: msg.to, content: msg.content, ts: Date.now(), sig: msg.sig, sig_ts: msg.ts, msg_id: msgId };
}

export interface MembershipStats {
  messagesRouted: number;
  messagesDelivered: number;
}

/** Finish `then` once `decision` allows it; a refusal is thrown (or rejected with). */
function after(decision: Decision, then: () => void | Promise<void>): void | Promise<void> {
  if (decision === null) return then();
  if (decision instanceof RelayError) throw decision;
  return decision.then((refusal) => {
    if (refusal !== null) throw refusal;
    return then();
  });
}

export class Membership {
  /** Set when shutting down: sessions close without telling the others. */
  closing = false;
  private lastDmId = 0;
  readonly presence: PresenceBatcher;
  /** The other relays, when this one is part of a cluster. */
  cluster: ClusterLink | null = null;

  constructor(
    private readonly config: RelayConfig,
    private readonly sessions: Sessions,
    private readonly channels: Channels,
    private readonly hooks: HookRegistry,
    private readonly outbox: Outbox,
    private readonly stats: MembershipStats,
  ) {
    this.presence = new PresenceBatcher(config.presenceBatchAbove, config.presenceBatchMs,
      (channel, frame) => this.publishPresence(channel, frame), (channel) => this.channels.get(channel.name) === channel);
  }

  // ---- identity -------------------------------------------------------------

  admit(session: SessionState, identity: Identity): void | Promise<void> {
    if (!AGENT_ID.test(identity.agentId) || !AGENT_NAME.test(identity.name)) {
      throw new Error(`admit: invalid identity ${JSON.stringify({ agentId: identity.agentId, name: identity.name })}`);
    }
    if (!this.admissible(session, identity)) return;
    return after(this.hooks.refuse('identify', session, identity), () => {
      if (this.admissible(session, identity)) this.completeAdmit(session, identity);
    });
  }

  /** False when the session closed; throws when it cannot take this identity. */
  private admissible(session: SessionState, identity: Identity): boolean {
    if (!session.open) return false;
    if (session.agentId !== null) throw new RelayError(ErrorCode.INVALID_MSG, `already identified as ${session.agentId}`);
    if (this.sessions.byAgent.has(identity.agentId)) {
      throw new RelayError(ErrorCode.INVALID_MSG, `identity ${identity.agentId} is already connected in another session; close that one first`);
    }
    return true;
  }

  private completeAdmit(session: SessionState, identity: Identity): void {
    session.agentId = identity.agentId;
    session.name = identity.name;
    this.sessions.unidentified.delete(session);
    this.sessions.byAgent.set(identity.agentId, session);
    this.outbox.send(session, { ...identity.welcome, type: 'WELCOME', agent_id: identity.agentId, server: this.config.serverName, name: identity.name });
    this.hooks.notify('identified', session);
  }

  // ---- membership -----------------------------------------------------------

  join(session: SessionState, name: string, options: JoinOptions = NO_OPTIONS): void | Promise<void> {
    // A plugin may call this for a session that closed meanwhile (after a timer, say).
    const channel = this.joinable(session, name);
    if (channel === null) return;
    return after(this.hooks.refuse('join', session, channel, options), () => {
      if (this.joinable(session, name) === channel) this.completeJoin(session, channel, options);
    });
  }

  /** The channel to join, null when there is nothing to do (closed, or already a member: JOINED again). */
  private joinable(session: SessionState, name: string): ChannelState | null {
    if (!session.open) return null;
    const channel = this.channels.get(name);
    if (channel === undefined) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${name} does not exist; LIST_CHANNELS shows the public ones`);
    if (session.channels.has(name)) {
      this.outbox.send(session, { type: 'JOINED', channel: name, agents: this.memberIds(channel) });
      return null;
    }
    if (session.channels.size >= this.config.maxChannelsPerAgent) {
      throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `you are in ${session.channels.size} channels, the limit; LEAVE one first`);
    }
    return channel;
  }

  private completeJoin(session: SessionState, channel: ChannelState, options: JoinOptions): void {
    const name = channel.name;
    const agentId = session.agentId!;
    // Told before subscribing, so the joiner is not among the receivers (on a batched large channel it may be).
    this.presence.changed(channel, 'joined', agentId, session.name);
    channel.members.set(agentId, session);
    channel.emptySince = null;
    session.channels.add(name);
    this.outbox.slowConsumers.membershipChanged(session);
    this.outbox.flushChannel(channel);
    session.ws.subscribe(name);
    this.outbox.send(session, { type: 'JOINED', channel: name, agents: this.memberIds(channel) });
    this.hooks.notify('joined', session, channel, options);
  }

  leave(session: SessionState, name: string): void {
    if (!session.open) return;
    const channel = this.channels.get(name);
    if (channel === undefined) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${name} does not exist`);
    if (!session.channels.has(name)) throw new RelayError(ErrorCode.NOT_INVITED, `you are not a member of ${name}`);
    session.channels.delete(name);
    this.outbox.slowConsumers.membershipChanged(session);
    this.outbox.unsubscribe(session, channel);
    this.outbox.send(session, { type: 'LEFT', channel: name });
    this.removeMember(session, channel, 'leave');
  }

  /** A closed socket leaves every channel and the agent-id index. */
  dropSession(session: SessionState): void {
    for (const name of session.channels) {
      const channel = this.channels.get(name);
      if (channel) this.removeMember(session, channel, 'disconnect');
    }
    session.channels.clear();
    this.outbox.slowConsumers.membershipChanged(session);
    if (session.agentId !== null && this.sessions.byAgent.get(session.agentId) === session) {
      this.sessions.byAgent.delete(session.agentId);
    }
    this.sessions.unidentified.delete(session);
  }

  private removeMember(session: SessionState, channel: ChannelState, cause: 'leave' | 'disconnect'): void {
    const agentId = session.agentId;
    if (agentId === null || channel.members.get(agentId) !== session) return;
    channel.members.delete(agentId);
    if (channel.members.size === 0) channel.emptySince = Date.now();
    // In a cluster the members elsewhere are told even when this relay has none left.
    if (!this.closing && (channel.members.size > 0 || this.cluster !== null)) this.presence.changed(channel, 'left', agentId, session.name);
    this.hooks.notify('leave', session, channel, cause);
  }

  publish(channel: ChannelState, frame: OutFrame): void {
    this.outbox.publishText(channel, JSON.stringify({ ...frame, ts: Date.now() }));
  }

  /** Members here and, in a cluster, on the other relays. */
  memberIds(channel: ChannelState): string[] {
    const here = [...channel.members.keys()];
    if (this.cluster === null) return here;
    const elsewhere = this.cluster.remoteMembers(channel.name);
    return elsewhere.length === 0 ? here : [...new Set([...here, ...elsewhere])];
  }

  /** AGENT_JOINED / AGENT_LEFT: to the members here or, in a cluster, on every relay. */
  private publishPresence(channel: ChannelState, frame: OutFrame): void {
    if (this.cluster === null) return this.publish(channel, frame);
    // A batch (`agents`) is about several agents: nobody is left out of it.
    this.cluster.publishFrame(channel, frame, frame.agents === undefined ? (frame.agent as string) : null);
  }

  // ---- traffic the cluster carried ------------------------------------------

  deliverChannel(name: string, text: string, msgId: number): void {
    const channel = this.channels.get(name);
    if (channel === undefined) return;
    if (msgId > channel.lastMsgId) channel.lastMsgId = msgId;
    if (channel.members.size === 0) return;
    this.outbox.publishText(channel, text);
    this.stats.messagesDelivered += channel.members.size;
    this.hooks.notify('relayed', channel, msgId, text);
  }

  deliverFrame(name: string, text: string, except: string | null): void {
    const channel = this.channels.get(name);
    if (channel === undefined || channel.members.size === 0) return;
    const skip = except === null ? undefined : channel.members.get(except);
    if (skip !== undefined && skip.open) this.outbox.publishExcept(channel, skip, text);
    else this.outbox.publishText(channel, text);
  }

  deliverDirect(agentId: string, text: string): boolean {
    const target = this.sessions.byAgent.get(agentId);
    if (target === undefined || !target.open) return false;
    this.outbox.sendRaw(target, text);
    this.stats.messagesDelivered++;
    return true;
  }

  // ---- routing --------------------------------------------------------------

  /** Route a validated MSG: channel fan-out through uWS pub/sub, DMs through the agent-id index. */
  route(session: SessionState, msg: InboundMsg): void | Promise<void> {
    const target = this.target(session, msg.to);
    const decision = this.hooks.refuse('message', session, msg);
    if (decision === null) return this.deliver(session, msg, target);
    return after(decision, () => {
      // Time passed: the sender may have left, the target gone.
      if (session.open) return this.deliver(session, msg, this.target(session, msg.to));
    });
  }

  /** The DM target, or null for a channel the sender is in; throws when there is none. */
  private target(session: SessionState, to: string): SessionState | null | typeof ELSEWHERE {
    if (to.charCodeAt(0) === 35 /* # */) {
      if (!session.channels.has(to)) {
        if (this.channels.get(to) === undefined) throw new RelayError(ErrorCode.CHANNEL_NOT_FOUND, `channel ${to} does not exist`);
        throw new RelayError(ErrorCode.NOT_INVITED, `you are not a member of ${to}; JOIN it first`);
      }
      return null;
    }
    const target = this.sessions.byAgent.get(to);
    if (target !== undefined) return target;
    if (this.cluster !== null) return ELSEWHERE;
    throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${to} is not connected`);
  }

  /**
   * DM ids are monotonic per relay and, being made from the clock (µs-scale steps of ms),
   * stay monotonic across a restart without a stored counter.
   */
  private nextDmId(): number {
    const fromClock = Date.now() * 1000;
    this.lastDmId = fromClock > this.lastDmId ? fromClock : this.lastDmId + 1;
    return this.lastDmId;
  }

  private deliver(session: SessionState, msg: InboundMsg, target: SessionState | null | typeof ELSEWHERE): void | Promise<void> {
    // ELSEWHERE only exists in a cluster, where channel MSGs also go through it.
    if (target === ELSEWHERE || (target === null && this.cluster !== null)) return this.throughCluster(this.cluster!, session, msg, target);
    const channel = target === null ? this.channels.get(msg.to)! : null;
    const frame = msgFrame(session.agentId!, msg, channel === null ? this.nextDmId() : ++channel.lastMsgId);
    const text = JSON.stringify(frame);
    if (target === null) {
      this.outbox.publishText(channel!, text);
      this.stats.messagesDelivered += channel!.members.size;
    } else {
      if (target === session) {
        this.outbox.sendRaw(target, text);
      } else {
        // Target and echo: converted to bytes once (uWS copies a string's UTF-8 on every send, a Buffer never).
        const bytes = Buffer.from(text);
        this.outbox.sendRaw(target, bytes);
        this.outbox.sendRaw(session, bytes);
      }
      this.stats.messagesDelivered += target === session ? 1 : 2;
    }
    this.stats.messagesRouted++;
    this.hooks.notify('delivered', session, frame, text);
  }

  /**
   * A session's MSGs go to Redis one after another on one connection, which Redis runs in
   * order: the next need not wait for the last one's answer. Up to `maxHeldFrames` may be on
   * their way; past that the session's frames wait (the kernel's held queue), so a fast
   * sender is paced by Redis rather than buffered without bound. A refusal comes back as
   * the MSG's ERROR.
   */
  private throughCluster(cluster: ClusterLink, session: SessionState, msg: InboundMsg, target: null | typeof ELSEWHERE): void | Promise<void> {
    session.inCluster++;
    const settled = this.deliverThroughCluster(cluster, session, msg, target).then(
      () => { session.inCluster--; },
      (err: unknown) => {
        session.inCluster--;
        const refusal = err instanceof RelayError ? err : new RelayError(ErrorCode.INTERNAL_ERROR, 'the relay failed to send this message and did not deliver it; try again later');
        if (session.open) this.outbox.refuse(session, refusal.code, refusal.message, { ...refusal.extras, ref: 'MSG' });
      },
    );
    return session.inCluster > this.config.maxHeldFrames ? settled : undefined;
  }

  /**
   * In a cluster a channel MSG is acknowledged once the cluster took it: every relay, this
   * one included, then fans it out in the cluster's order (msg_id order). A DM to an agent
   * on another relay goes to that relay only; the sender's echo follows its acceptance.
   */
  private async deliverThroughCluster(cluster: ClusterLink, session: SessionState, msg: InboundMsg, target: null | typeof ELSEWHERE): Promise<void> {
    const to = msg.to;
    // A channel's msg_id comes from the cluster; a DM's from this relay's clock, as without one.
    const frame = msgFrame(session.agentId!, msg, target === null ? undefined : this.nextDmId());
    if (target === null) {
      const body = JSON.stringify(frame);
      const msgId = await cluster.publish(this.channels.get(to)!, body);
      frame.msg_id = msgId;
      this.stats.messagesRouted++;
      this.hooks.notify('delivered', session, frame, `{"msg_id":${msgId},${body.slice(1)}`);
      return;
    }
    const text = JSON.stringify(frame);
    if (!(await cluster.forward(to, text))) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${to} is not connected`);
    this.outbox.sendRaw(session, text);
    this.stats.messagesDelivered++;
    this.stats.messagesRouted++;
    this.hooks.notify('delivered', session, frame, text);
  }
}

