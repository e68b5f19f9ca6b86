/** Server → client messages (PROTOCOL.md). Every one carries `ts`, server time in ms. */
import type { AnyErrorCode, ProposalReason } from './errors.js';
import type { ProposalStatusName, ProposalStepType } from './proposals.js';

interface Stamped { ts: number }

export interface WelcomeFrame extends Stamped {
  type: 'WELCOME';
  agent_id: string;
  /** The relay's name. */
  server: string;
  name: string;
  /** Present when the session has a key: true once it proved possession. */
  verified?: boolean;
}
export interface ChallengeFrame extends Stamped { type: 'CHALLENGE'; nonce: string; server: string }
export interface MsgFrame extends Stamped {
  type: 'MSG';
  from: string;
  to: string;
  content: string;
  sig?: string;
  /** The signer's own ts, needed to verify `sig` (extension). */
  sig_ts?: number;
  /** Set on history replayed after JOINED. */
  replay?: true;
  /**
   * Extension: the message's id, monotonic per channel and stable across restarts (a DM's
   * is monotonic per relay); `JOIN {since: msg_id}` replays what came after it.
   */
  msg_id?: number;
}
/** Extension: after the replay of a `JOIN {since}`, how many were replayed and whether retention had dropped some. */
export interface HistoryFrame extends Stamped { type: 'HISTORY'; channel: string; since: number; count: number; incomplete: boolean; last_msg_id: number }
export interface JoinedFrame extends Stamped { type: 'JOINED'; channel: string; agents: string[] }
export interface LeftFrame extends Stamped { type: 'LEFT'; channel: string }
export interface AgentJoinedFrame extends Stamped { type: 'AGENT_JOINED'; channel: string; agent: string; name?: string }
export interface AgentLeftFrame extends Stamped { type: 'AGENT_LEFT'; channel: string; agent: string; name?: string }
/**
 * Extensions: `private: true` marks an invite-only channel, listed only to its members;
 * `cursor` is present when more follow: send it back in the request for the next page.
 */
export interface ChannelsFrame extends Stamped { type: 'CHANNELS'; list: Array<{ name: string; agents: number; private?: true }>; cursor?: string }
export interface AgentsFrame extends Stamped { type: 'AGENTS'; channel: string; list: string[]; cursor?: string }
export interface WhoisFrame extends Stamped {
  type: 'WHOIS';
  agent: string;
  name: string;
  /** SPKI PEM, or null for an ephemeral agent. */
  pubkey: string | null;
  verified: boolean;
}
export interface PongFrame extends Stamped { type: 'PONG' }
/** Extension: the answer to the inviter of an accepted INVITE. */
export interface InvitedFrame extends Stamped { type: 'INVITED'; channel: string; agent: string }
export interface ErrorFrame extends Stamped {
  type: 'ERROR';
  /** A protocol code (ErrorCode) or a relay plugin's own. */
  code: AnyErrorCode;
  message: string;
  /** The offending request's type. */
  ref?: string;
  /** INVALID_PROPOSAL: the specific cause (a ProposalReason); other codes may carry one too. */
  reason?: ProposalReason | (string & {});
  /** RATE_LIMITED: when to try again. */
  retry_after_ms?: number;
}

/** One signed step of a proposal, kept with the record so anyone holding the keys can verify it. */
export interface ProposalStep {
  type: ProposalStepType;
  /** The agent that took the step and signed `sig`. */
  by: string;
  /** ms since epoch */
  at: number;
  payment_code?: string | null;
  reason?: string | null;
  proof?: string | null;
  sig: string;
}

export interface ProposalRecord {
  id: string;
  from: string;
  to: string;
  task: string;
  amount: number | string | null;
  currency: string | null;
  payment_code: string | null;
  terms: string | null;
  /** Absolute ms since epoch, or null. */
  expires: number | null;
  /** `expires` as the proposer sent and signed it (seconds), to verify `sig` (extension). */
  expires_in: number | null;
  status: ProposalStatusName;
  created_at: number;
  updated_at?: number;
  sig: string;
  /** 'json' when `sig` covers proposalCanonicalString (extension); absent: the 0.3.x '|' string. */
  sig_format?: 'json';
  /** The signed steps so far, oldest first (extension; in PROPOSALS lists). */
  steps?: ProposalStep[];
}
export interface ProposalFrame extends Stamped, ProposalRecord { type: 'PROPOSAL' }
export interface ProposalStepFrame extends Stamped {
  type: ProposalStepType;
  proposal_id: string;
  status: ProposalStatusName;
  updated_at: number;
  /** The proposer and the recipient, as 0.3.x sends them. */
  from: string;
  to: string;
  /** The agent that took this step, whose key signed `sig` (extension). */
  by: string;
  payment_code?: string | null;
  reason?: string | null;
  proof?: string | null;
  sig: string;
}
export interface ProposalsFrame extends Stamped {
  type: 'PROPOSALS';
  /** Newest first. */
  list: ProposalRecord[];
  /** Present when there were more than the relay lists at once. */
  truncated?: true;
  /** Extension: with `truncated`, the last id listed; send it back as `cursor` for the next (older) page. */
  cursor?: string;
}

export type ServerFrame =
  | WelcomeFrame | ChallengeFrame | MsgFrame | JoinedFrame | LeftFrame | AgentJoinedFrame | AgentLeftFrame
  | ChannelsFrame | AgentsFrame | WhoisFrame | PongFrame | InvitedFrame | ErrorFrame | ProposalFrame | ProposalStepFrame | ProposalsFrame | HistoryFrame;
