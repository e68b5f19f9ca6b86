/**
 * `agentchat/browser`: AgentChatClient for browsers (native WebSocket, tweetnacl for
 * Ed25519, no Node built-ins), with the same API as in Node; identities kept in
 * IndexedDB or exchanged as identity files; signature checks against WHOIS keys.
 */
import { ClientCore, type ClientCoreOptions } from '../core.js';
import type { Platform } from '../platform.js';
import { signWith, type BrowserIdentity } from './identity.js';
import { dialBrowser } from './transport.js';

export type { Expectation, OutboundFrame } from '../core.js';
export { AgentChatError, type LocalErrorCode, type AgentChatErrorDetails } from '../errors.js';
export type { ClientEvents, DisconnectInfo, UnknownFrame } from '../events.js';
export { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from '../reconnect.js';
export type { AnyFrame } from '../pending.js';
export type { ListProposalsFilter, ProposalInput } from '../proposals.js';
export type * from '../../protocol/messages.js';
export { msgSigningString } from '../../protocol/signing.js';
export { normalizeRelayUrl } from '../../protocol/urls.js';
export {
  forgetIdentity, generateIdentity, identityFileText, identityFromFile, identityFromText, loadIdentity, saveIdentity, signWith,
  type BrowserIdentity, type IdentityFile,
} from './identity.js';
export { agentIdFromPem, keyPairFromSeed, pkcs8Pem, publicKeyFromText, signText, spkiPem, verifyText, KeyFormatError, type KeyPair } from './keys.js';
export { checkMsgSignature, type SignatureCheck } from './verify.js';

export interface AgentChatClientOptions extends ClientCoreOptions<BrowserIdentity, never> {
  /** An identity (generateIdentity, identityFromText, loadIdentity): the agent gets its persistent id and signs. */
  identity?: BrowserIdentity;
}

const browser: Platform<BrowserIdentity, never> = {
  dial: dialBrowser,
  sign: signWith,
};

export class AgentChatClient extends ClientCore<BrowserIdentity, never> {
  constructor(options: AgentChatClientOptions) {
    super(options, browser);
  }
}
