/**
 * Every proposal step is signed with the acting agent's registered key (parsed once,
 * at IDENTIFY, and kept in the identity plugin's session slot). Sessions whose key was
 * not proven (a relay run with allowUnverifiedKeys) may act too: the operator chose that mode, and the
 * signature itself still proves possession of the claimed key.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.js';
import { verifySignature } from '../../protocol/keys.js';
import { RelayError, type Session, type SessionSlot } from '../../kernel/types.js';
import type { SessionKey } from '../identity/index.js';

export interface Signer {
  /** The session's parsed key; SIGNATURE_REQUIRED for an ephemeral agent. */
  requireKey(session: Session): KeyObject;
  /** Whether the session has a key at all (an ephemeral agent can never sign). */
  hasKey(session: Session): boolean;
  /** The session's key as SPKI PEM; SIGNATURE_REQUIRED without one. */
  pubkey(session: Session): string;
  /** INVALID_SIGNATURE unless `sig` is the session's signature over `signed`. */
  verify(session: Session, signed: string, sig: string, what: string): void;
}

export function createSigner(keys: SessionSlot<SessionKey>): Signer {
  const requireKey = (session: Session): KeyObject => {
    const key = keys.get(session)?.key;
    if (key === undefined) {
      throw new RelayError(ErrorCode.SIGNATURE_REQUIRED, 'proposals are signed: IDENTIFY with a pubkey (a persistent identity) to take part in them');
    }
    return key;
  };

  return {
    requireKey,
    hasKey: (session) => keys.get(session) !== undefined,
    pubkey: (session) => {
      requireKey(session);
      return keys.get(session)!.pubkey;
    },
    verify(session, signed, sig, what) {
      if (!verifySignature(requireKey(session), signed, sig)) {
        throw new RelayError(ErrorCode.INVALID_SIGNATURE, `signature does not verify against your key over ${what}`);
      }
    },
  };
}
