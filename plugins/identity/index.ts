/**
 * identity: IDENTIFY, ephemeral ids, Ed25519 keys with proof of possession
 * (CHALLENGE/VERIFY), one live session per key, verified MSG signatures, WHOIS.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { ErrorCode, CloseCode } from '../../protocol/errors.js';
import { KeyFormatError, parsePublicKey, verifySignature, type PublicKey } from '../../protocol/keys.js';
import { Identify, Verify, Whois } from '../../protocol/schemas.js';
import { authSigningString, MAX_SIGNED_TS_SKEW_MS, msgSigningString } from '../../protocol/signing.js';
import { RelayError, type InboundMsg, type Plugin, type RelayApi, type Session, type SessionSlot } from '../../kernel/types.js';

export interface IdentityOptions {
  /** Admit keys without proof of possession (0.3.x clients do not answer CHALLENGE); sessions are `verified: false`. */
  allowUnverifiedKeys?: boolean;
  /** How long a client has to answer CHALLENGE (default 10 s). */
  verifyTimeoutMs?: number;
  /** How long a connection may stay without IDENTIFY before it is closed, since it holds a session slot (default 30 s). */
  identifyTimeoutMs?: number;
}

/** What identity knows of a session that IDENTIFYed with a key. */
export interface SessionKey {
  /** Canonical SPKI PEM. */
  pubkey: string;
  /** `pubkey` parsed once, for any plugin that verifies this session's signatures. */
  key: KeyObject;
  /** True when the session proved possession of the key. */
  verified: boolean;
}

/** The identity plugin's slot: a session's key, or undefined for an ephemeral agent (or before IDENTIFY). */
export function sessionKeys(relay: RelayApi): SessionSlot<SessionKey> {
  return relay.sessionSlot<SessionKey>('identity.key');
}

const DEFAULTS: Required<IdentityOptions> = { allowUnverifiedKeys: false, verifyTimeoutMs: 10_000, identifyTimeoutMs: 30_000 };

interface PendingChallenge {
  key: PublicKey;
  name: string;
  nonce: string;
  cancelTimeout: () => void;
}

const EPHEMERAL_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** '@' + 8 chars of [a-z0-9] from the CSPRNG (rejection sampling keeps it uniform). */
function randomAgentId(): string {
  let id = '@';
  while (id.length < 9) {
    for (const byte of randomBytes(16)) {
      if (byte < 252 && id.length < 9) id += EPHEMERAL_ALPHABET[byte % 36];
    }
  }
  return id;
}

export function identity(defaults: IdentityOptions = {}): Plugin<IdentityOptions> {
  return {
    name: 'identity',
    setup(relay: RelayApi, options: IdentityOptions) {
      const { allowUnverifiedKeys, verifyTimeoutMs, identifyTimeoutMs } = { ...DEFAULTS, ...defaults, ...options };
      const pending = relay.sessionSlot<PendingChallenge>('identity.challenge');
      const keys = sessionKeys(relay);
      const server = relay.config.serverName;

      /** The key goes in its slot first, so identify hooks (a policy, say) see it; a refusal takes it back. */
      const admitWithKey = (session: Session, key: PublicKey, name: string, verified: boolean) => {
        keys.set(session, { pubkey: key.pem, key: key.key, verified });
        const taken = () => keys.delete(session);
        try {
          const result = relay.admit(session, { agentId: key.agentId, name, welcome: { verified } });
          return result === undefined ? result : result.catch((err: unknown) => {
            taken();
            throw err;
          });
        } catch (err) {
          taken();
          throw err;
        }
      };

      const uniqueEphemeralId = (): string => {
        for (;;) {
          const id = randomAgentId();
          if (!relay.sessions.byAgentId(id)) return id;
        }
      };

      const refuseIfConnected = (agentId: string) => {
        if (relay.sessions.byAgentId(agentId)) {
          throw new RelayError(ErrorCode.INVALID_MSG, `identity ${agentId} is already connected in another session; close that one first`);
        }
      };

      relay.handle('IDENTIFY', {
        schema: Identify,
        beforeIdentify: true,
        handle(session, msg) {
          if (session.agentId !== null) {
            throw new RelayError(ErrorCode.INVALID_MSG, `already identified as ${session.agentId}; open another connection for another identity`);
          }
          if (pending.get(session) !== undefined) throw new RelayError(ErrorCode.INVALID_MSG, 'IDENTIFY already sent: answer the CHALLENGE with VERIFY');
          if (msg.pubkey === undefined || msg.pubkey === null) {
            return relay.admit(session, { agentId: uniqueEphemeralId(), name: msg.name });
          }
          let key: PublicKey;
          try {
            key = parsePublicKey(msg.pubkey);
          } catch (err) {
            throw new RelayError(ErrorCode.INVALID_MSG, err instanceof KeyFormatError ? err.message : 'pubkey is not a usable Ed25519 key');
          }
          refuseIfConnected(key.agentId);
          if (allowUnverifiedKeys) return admitWithKey(session, key, msg.name, false);
          const nonce = randomBytes(32).toString('base64');
          const cancelTimeout = relay.after(verifyTimeoutMs, () => {
            if (pending.get(session) === undefined) return;
            pending.delete(session);
            relay.error(session, ErrorCode.VERIFY_FAILED, `no VERIFY within ${verifyTimeoutMs / 1000} s of CHALLENGE; sign "AGENTCHAT-AUTH|<server>|<nonce>" with your key`);
            relay.disconnect(session, CloseCode.POLICY, 'verify timeout');
          });
          pending.set(session, { key, name: msg.name, nonce, cancelTimeout });
          relay.send(session, { type: 'CHALLENGE', nonce, server });
        },
      });

      relay.handle('VERIFY', {
        schema: Verify,
        beforeIdentify: true,
        handle(session, msg) {
          const challenge = pending.get(session);
          if (!challenge) throw new RelayError(ErrorCode.INVALID_MSG, 'no CHALLENGE is pending: send IDENTIFY with a pubkey first');
          pending.delete(session);
          challenge.cancelTimeout();
          if (!verifySignature(challenge.key.key, authSigningString(server, challenge.nonce), msg.sig)) {
            relay.error(session, ErrorCode.VERIFY_FAILED, 'VERIFY signature does not match the pubkey you sent; sign "AGENTCHAT-AUTH|<server>|<nonce>" with its private key', { ref: 'VERIFY' });
            relay.disconnect(session, CloseCode.POLICY, 'verify failed');
            return;
          }
          return admitWithKey(session, challenge.key, challenge.name, true);
        },
      });

      relay.handle('WHOIS', {
        schema: Whois,
        handle(session, msg) {
          const target = relay.sessions.byAgentId(msg.agent);
          if (!target) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${msg.agent} is not connected`);
          const key = keys.get(target);
          relay.send(session, { type: 'WHOIS', agent: msg.agent, name: target.name, pubkey: key?.pubkey ?? null, verified: key?.verified ?? false });
        },
      });

      // Signed MSGs are verified before routing: a signature that fails is never relayed.
      relay.hook('message', (session: Session, msg: InboundMsg) => {
        if (msg.sig === undefined) return;
        const key = keys.get(session)?.key;
        if (key === undefined) {
          return new RelayError(ErrorCode.INVALID_SIGNATURE, 'this session has no key, so its signature cannot be verified: IDENTIFY with a pubkey to sign messages');
        }
        if (msg.ts === undefined) return new RelayError(ErrorCode.INVALID_SIGNATURE, 'a signed MSG must carry the ts it signed');
        const skew = msg.ts - Date.now();
        if (Math.abs(skew) > MAX_SIGNED_TS_SKEW_MS) {
          return new RelayError(ErrorCode.INVALID_SIGNATURE, `signed ts is ${Math.round(skew / 1000)} s from server time (limit ±300 s); check your clock`);
        }
        if (!verifySignature(key, msgSigningString(msg.to, msg.content, msg.ts), msg.sig)) {
          return new RelayError(ErrorCode.INVALID_SIGNATURE, 'signature does not verify against your key over JSON.stringify({to, content, ts})');
        }
      });

      // A connection that never identifies would hold a session slot forever (pings keep it
      // alive). Connections queue in connect order, which is deadline order: a timer closes
      // the expired ones at the head, with no timer or map entry per connection.
      const unidentified: Session[] = [];
      let head = 0;
      relay.hook('connect', (session) => {
        unidentified.push(session);
      });
      relay.every(Math.max(10, Math.min(1000, identifyTimeoutMs / 4)), () => {
        const cutoff = Date.now() - identifyTimeoutMs;
        while (head < unidentified.length && unidentified[head].connectedAt <= cutoff) {
          const session = unidentified[head++];
          if (session.agentId !== null || !session.open) continue;
          relay.error(session, ErrorCode.AUTH_REQUIRED, `no IDENTIFY within ${identifyTimeoutMs / 1000} s of connecting; closing`);
          relay.disconnect(session, CloseCode.POLICY, 'identify timeout');
        }
        if (head > 0 && head * 2 >= unidentified.length) {
          unidentified.splice(0, head);
          head = 0;
        }
      });

      relay.hook('disconnect', (session) => {
        pending.get(session)?.cancelTimeout();
      });
    },
  };
}
