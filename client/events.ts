/** The events AgentChatClient emits, with their arguments. */
import type {
  AgentJoinedFrame, AgentLeftFrame, AgentsFrame, ChallengeFrame, ChannelsFrame, ErrorFrame, InvitedFrame, JoinedFrame, LeftFrame,
  HistoryFrame, MsgFrame, PongFrame, ProposalFrame, ProposalStepFrame, ProposalsFrame, ServerFrame, WelcomeFrame, WhoisFrame,
} from '../protocol/messages.js';

/** A frame of a type this client version does not know (a relay extension). */
export interface UnknownFrame {
  type: string;
  ts?: number;
  [field: string]: unknown;
}

export interface DisconnectInfo {
  /** WebSocket close code (1006: the connection dropped or never opened). */
  code: number;
  reason: string;
  /** A reconnect attempt is scheduled. */
  willReconnect: boolean;
}

export interface ClientEvents {
  /** Identified (WELCOME), first connect and every reconnect. */
  connect: [WelcomeFrame];
  welcome: [WelcomeFrame];
  /** Identified again after a dropped connection, before channels are re-joined. */
  reconnect: [WelcomeFrame];
  /** Re-joined every channel it could after a reconnect. */
  rejoined: [string[]];
  /** About to wait `delayMs` before reconnect attempt `attempt` (1-based). */
  reconnecting: [{ attempt: number; delayMs: number }];
  /** Gave up after `attempts` reconnect attempts. */
  reconnect_failed: [{ attempts: number }];
  disconnect: [DisconnectInfo];
  /** A newer session proved this agent's key and took over; this client does not reconnect (close code 4001). */
  session_displaced: [UnknownFrame];

  /** Every MSG: channel messages (own included), DMs, DM echoes, replayed history (`replay: true`). */
  message: [MsgFrame];
  agent_joined: [AgentJoinedFrame];
  agent_left: [AgentLeftFrame];
  challenge: [ChallengeFrame];
  joined: [JoinedFrame];
  left: [LeftFrame];
  channels: [ChannelsFrame];
  agents: [AgentsFrame];
  whois: [WhoisFrame];
  invited: [InvitedFrame];
  pong: [PongFrame];
  proposal: [ProposalFrame];
  accept: [ProposalStepFrame];
  reject: [ProposalStepFrame];
  complete: [ProposalStepFrame];
  dispute: [ProposalStepFrame];
  proposals: [ProposalsFrame];
  /** After the replay of a `join(channel, {since})`: how many were replayed, and whether some were no longer kept. */
  history: [HistoryFrame];

  /** Every ERROR frame from the relay, whether or not it rejected a request. */
  server_error: [ErrorFrame];
  /**
   * An ERROR frame that rejected no request. Emitted only while an `error` listener
   * exists, so an unlistened relay ERROR never crashes the process.
   */
  error: [ErrorFrame];
  /** Every frame from the relay, known types and extensions alike, before its own event. */
  frame: [ServerFrame | UnknownFrame];
}
