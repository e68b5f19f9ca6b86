/**
 * Finding slow consumers without looping over members per message. Direct sends are
 * checked as they are made (kernel.sendRaw). Channel fan-out happens in C++, so:
 * members of a channel are checked every few of its messages, members of many channels
 * on a relay-wide count, and a timer sweeps for what both may miss. uWS's own limit sits
 * past ours (relay.ts), so the SLOW_CONSUMER frame and the close always fit behind the backlog.
 */
import type { ChannelState } from './channels.js';
import type { RelayConfig } from './config.js';
import type { SessionState } from './session.js';

/** Members of more channels than this are watched relay-wide (see `every`). */
const WIDE_CHANNELS = 4;
/** Wide sessions checked per round; past this many, the timer sweep and uWS's hard limit are the backstop. */
const WIDE_CHECKS_PER_ROUND = 1024;

export class SlowConsumerWatch {
  /**
   * Channel messages between checks: few enough that a member of up to WIDE_CHANNELS busy
   * channels cannot fill uWS's headroom past the bound between two checks, even with the
   * largest frames (6 bytes per JSON-escaped character).
   */
  private readonly every: number;
  private readonly bound: number;
  private readonly wide = new Set<SessionState>();
  private wideCursor: Iterator<SessionState> = this.wide.values();
  private sinceWideCheck = 0;

  constructor(
    config: RelayConfig,
    /** Called once per slow session found: tell it and close it. */
    private readonly found: (session: SessionState) => void,
  ) {
    const headroom = config.slowConsumerBytes + config.maxPayloadBytes;
    const largestFrame = config.maxContentChars * 6 + 1024;
    this.every = Math.max(1, Math.min(64, Math.floor(headroom / (WIDE_CHANNELS * largestFrame))));
    this.bound = config.slowConsumerBytes;
  }

  /** After every publish to `channel`. */
  published(channel: ChannelState): void {
    if (++channel.sinceCheck >= this.every) this.checkMembers(channel);
    if (this.wide.size > 0 && ++this.sinceWideCheck >= this.every) this.checkWide();
  }

  /** After a session joined or left a channel, or closed. */
  membershipChanged(session: SessionState): void {
    if (session.open && session.channels.size > WIDE_CHANNELS) this.wide.add(session);
    else this.wide.delete(session);
  }

  /** The time-based backstop: quiet channels, and whatever the counted checks may miss. */
  sweep(sessions: Iterable<SessionState>): void {
    for (const session of sessions) {
      if (session.channels.size > 0 && session.open && this.isSlow(session)) this.found(session);
    }
  }

  /** `held`: bytes a coalesced channel holds for this session, which count against its bound. */
  isSlow(session: SessionState, held = 0): boolean {
    return session.ws.getBufferedAmount() + held > this.bound;
  }

  private checkMembers(channel: ChannelState): void {
    channel.sinceCheck = 0;
    const held = channel.heldBytes;
    for (const member of channel.members.values()) {
      if (this.isSlow(member, held)) this.found(member);
    }
  }

  /** A wide session receives at most one frame per channel message: check them on a relay-wide count. */
  private checkWide(): void {
    this.sinceWideCheck = 0;
    for (let i = 0; i < WIDE_CHECKS_PER_ROUND && i < this.wide.size; i++) {
      let next = this.wideCursor.next();
      if (next.done) next = (this.wideCursor = this.wide.values()).next();
      if (next.done) return;
      if (this.isSlow(next.value)) this.found(next.value);
    }
  }
}
