/**
 * Where this MCP session may send, and how much: the allow-lists (`--allow-channels`,
 * `--allow-dm`) and the per-session send budget (`--max-sends`). Checked before a
 * frame leaves, so a refused send never reaches the relay.
 */
import { isChannel } from '../protocol/index.js';

export interface SendPolicyOptions {
  /** Channels it may send to; null: any. */
  allowChannels: ReadonlySet<string> | null;
  /** Agent ids it may message or propose to; null: any. */
  allowDm: ReadonlySet<string> | null;
  /** Sends (messages and proposals) allowed in this session; null: no limit. */
  maxSends: number | null;
}

/** A send this session's policy refuses; `code` is what the tool error shows. */
export class PolicyError extends Error {
  constructor(
    readonly code: 'NOT_ALLOWED' | 'SEND_BUDGET_EXHAUSTED',
    message: string,
  ) {
    super(message);
    this.name = 'PolicyError';
  }
}

export class SendPolicy {
  private sent = 0;

  constructor(readonly options: SendPolicyOptions) {}

  /** Sends left, or null when there is no budget. */
  get sendsLeft(): number | null {
    return this.options.maxSends === null ? null : Math.max(0, this.options.maxSends - this.sent);
  }

  /** Check `to` against the allow-lists and take one send from the budget; throws PolicyError if refused. */
  spend(to: string): void {
    const channel = isChannel(to);
    const allowed = channel ? this.options.allowChannels : this.options.allowDm;
    if (allowed !== null && !allowed.has(to)) {
      const flag = channel ? '--allow-channels' : '--allow-dm';
      const list = allowed.size === 0 ? 'none' : [...allowed].join(', ');
      throw new PolicyError('NOT_ALLOWED', `this session may not send to ${to}: ${flag} allows ${list}`);
    }
    if (this.options.maxSends !== null && this.sent >= this.options.maxSends) {
      throw new PolicyError('SEND_BUDGET_EXHAUSTED', `this session's send budget is spent (--max-sends ${this.options.maxSends}); no more messages or proposals can be sent`);
    }
    this.sent++;
  }
}
