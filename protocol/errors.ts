/** Error codes (PROTOCOL.md § Error codes). */
export const ErrorCode = {
  // compatible core
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  CHANNEL_NOT_FOUND: 'CHANNEL_NOT_FOUND',
  NOT_INVITED: 'NOT_INVITED',
  INVALID_MSG: 'INVALID_MSG',
  RATE_LIMITED: 'RATE_LIMITED',
  AGENT_NOT_FOUND: 'AGENT_NOT_FOUND',
  CHANNEL_EXISTS: 'CHANNEL_EXISTS',
  INVALID_NAME: 'INVALID_NAME',
  SIGNATURE_REQUIRED: 'SIGNATURE_REQUIRED',
  INVALID_PROPOSAL: 'INVALID_PROPOSAL',
  // extensions
  INVALID_SIGNATURE: 'INVALID_SIGNATURE',
  VERIFY_FAILED: 'VERIFY_FAILED',
  SLOW_CONSUMER: 'SLOW_CONSUMER',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  /** A check the relay needs (an async hook, the policy process, the store) did not answer in time or is down: nothing was done. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** Moderation: the agent, key or address is banned (then close 4003, or HTTP 403 at the upgrade). */
  BANNED: 'BANNED',
  /** Moderation: the agent is muted; its MSG was not relayed. */
  MUTED: 'MUTED',
  /** An ADMIN frame from a session whose key is not one of the relay's admin keys. */
  NOT_ADMIN: 'NOT_ADMIN',
  /** A gate of this relay needs a proven key for this (verified-only channel creation or DMs, read-only agents without a key). */
  VERIFICATION_REQUIRED: 'VERIFICATION_REQUIRED',
  /** A gate of this relay keeps keys first seen recently read-only; `retry_after_ms` says when this one may write. */
  KEY_TOO_NEW: 'KEY_TOO_NEW',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Any code a relay error may carry: the ones above, or a plugin's own (upper-case,
 * e.g. 'BANNED_WORD'). `string & {}` keeps editor completion for the known ones.
 */
export type AnyErrorCode = ErrorCode | (string & {});

/** The specific cause of an INVALID_PROPOSAL, carried in the ERROR's `reason` field. */
export const ProposalReason = {
  PROPOSAL_NOT_FOUND: 'PROPOSAL_NOT_FOUND',
  PROPOSAL_EXPIRED: 'PROPOSAL_EXPIRED',
  PROPOSAL_NOT_PENDING: 'PROPOSAL_NOT_PENDING',
  PROPOSAL_NOT_ACCEPTED: 'PROPOSAL_NOT_ACCEPTED',
  NOT_PROPOSAL_PARTY: 'NOT_PROPOSAL_PARTY',
  NOT_PROPOSAL_RECIPIENT: 'NOT_PROPOSAL_RECIPIENT',
} as const;
export type ProposalReason = (typeof ProposalReason)[keyof typeof ProposalReason];

/** WebSocket close codes the relay uses. */
export const CloseCode = {
  /** Relay shutting down. */
  GOING_AWAY: 1001,
  /** Policy violation: flooding, failed proof of possession, slow consumer. */
  POLICY: 1008,
  /** Frame over the payload limit. */
  TOO_BIG: 1009,
  /** Relay restarting or at capacity: reconnect later. */
  TRY_AGAIN_LATER: 1013,
  /** A newer session proved the same key (SESSION_DISPLACED): do not reconnect automatically. */
  DISPLACED: 4001,
  /** An operator kicked this session (KICKED): it may reconnect, but should not at once. */
  KICKED: 4002,
  /** An operator banned this agent, key or address (BANNED): do not reconnect. */
  BANNED: 4003,
} as const;
