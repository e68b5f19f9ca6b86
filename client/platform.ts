/**
 * What AgentChatClient needs from where it runs, behind two small interfaces: a socket
 * (the `ws` package in Node, the native WebSocket in a browser) and a signer (node:crypto
 * in Node, tweetnacl in a browser). The client logic itself is written once, in core.ts.
 */

/** The identity a client connects and signs as: what IDENTIFY and the signer need. */
export interface SigningIdentity {
  name: string;
  /** Ed25519 SPKI PEM, as IDENTIFY sends it. */
  pubkey: string;
  /** '@' + 8 hex chars, the id the relay assigns to this key. */
  agentId: string;
}

/** What a transport reports about its socket, each at most once except `text`. */
export interface TransportEvents {
  open(): void;
  /** One text frame (binary frames are not part of the protocol and are dropped). */
  text(data: string): void;
  /** A socket error; the `close` that always follows reports the end. */
  error(err: Error): void;
  close(code: number, reason: string): void;
}

/** One WebSocket connection. */
export interface Transport {
  /** The socket is open: `send` would write. */
  readonly isOpen: boolean;
  send(text: string): void;
  /** Start the closing handshake. */
  close(code: number): void;
  /** Drop the socket now; `close` is still reported. */
  terminate(): void;
  /** Resolves once the socket is closed, however it ended. */
  readonly closed: Promise<void>;
}

/** Open a socket to `url`; `extra` is the platform's own socket options (ws's ClientOptions in Node). */
export type Dial<Extra> = (url: string, events: TransportEvents, options: { handshakeTimeoutMs: number; extra: Extra | undefined }) => Transport;

/** Everything platform-specific the client uses. */
export interface Platform<I extends SigningIdentity, Extra> {
  dial: Dial<Extra>;
  /** Ed25519 signature of the UTF-8 of `data`, base64. */
  sign(identity: I, data: string): string;
  /** Load an identity from a path (Node: an identity file); absent where there are no files. */
  loadIdentity?(path: string): Promise<I>;
}
