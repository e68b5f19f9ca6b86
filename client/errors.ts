/** Errors a request of AgentChatClient rejects with. */
import type { AnyErrorCode, ProposalReason } from '../protocol/errors.js';
import type { ErrorFrame } from '../protocol/messages.js';

/** Failures the client detects itself (no server ERROR behind them). */
export type LocalErrorCode = 'TIMEOUT' | 'DISCONNECTED' | 'NOT_CONNECTED';

export interface AgentChatErrorDetails {
  reason?: ProposalReason | (string & {});
  retry_after_ms?: number;
  /** The server ERROR frame, when the error came from the relay. */
  frame?: ErrorFrame;
}

/** A refused or failed request: `code` is the relay's error code, or a LocalErrorCode. */
export class AgentChatError extends Error {
  readonly code: AnyErrorCode | LocalErrorCode;
  readonly reason?: ProposalReason | (string & {});
  readonly retry_after_ms?: number;
  readonly frame?: ErrorFrame;

  constructor(code: AnyErrorCode | LocalErrorCode, message: string, details: AgentChatErrorDetails = {}) {
    super(message);
    this.name = 'AgentChatError';
    this.code = code;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.retry_after_ms !== undefined) this.retry_after_ms = details.retry_after_ms;
    if (details.frame !== undefined) this.frame = details.frame;
  }

  /** The error a server ERROR frame stands for. */
  static fromFrame(frame: ErrorFrame): AgentChatError {
    return new AgentChatError(frame.code, frame.message, {
      reason: frame.reason,
      retry_after_ms: frame.retry_after_ms,
      frame,
    });
  }
}
