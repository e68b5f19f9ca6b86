/**
 * AgentChatClient for Node: the client of core.ts on the `ws` package and node:crypto,
 * loading identity files from disk. Its API is the one agentchat 0.3.x users know.
 */
import type { ClientOptions } from 'ws';
import { signString } from '../protocol/keys.js';
import { ClientCore, type ClientCoreOptions } from './core.js';
import { loadIdentity, type LoadedIdentity } from './identity-file.js';
import type { Platform } from './platform.js';
import { dialWs } from './transport-ws.js';

export type { Expectation, OutboundFrame } from './core.js';

export interface AgentChatClientOptions extends ClientCoreOptions<LoadedIdentity, ClientOptions> {
  /** Path to an identity file, or an identity already loaded: the agent gets its persistent id and signs. */
  identity?: string | LoadedIdentity;
  /** Passed to the `ws` WebSocket (e.g. TLS `ca`, `rejectUnauthorized`). */
  wsOptions?: ClientOptions;
}

const node: Platform<LoadedIdentity, ClientOptions> = {
  dial: dialWs,
  sign: (identity, data) => signString(identity.privateKey, data),
  loadIdentity: (path) => loadIdentity(path),
};

export class AgentChatClient extends ClientCore<LoadedIdentity, ClientOptions> {
  constructor(options: AgentChatClientOptions) {
    super(options, node);
  }
}
