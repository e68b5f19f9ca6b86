export { AgentChatClient, type AgentChatClientOptions, type Expectation, type OutboundFrame } from './client.js';
export { AgentChatError, type LocalErrorCode, type AgentChatErrorDetails } from './errors.js';
export type { ClientEvents, DisconnectInfo, UnknownFrame } from './events.js';
export { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './reconnect.js';
export type { AnyFrame } from './pending.js';
export type { ListProposalsFilter, ProposalInput } from './proposals.js';
export {
  defaultIdentityPath, generateIdentity, identityFromFile, loadIdentity, saveIdentity, publicIdentity,
  IdentityExistsError, type IdentityFile, type LoadedIdentity, type PublicIdentity,
} from './identity-file.js';
