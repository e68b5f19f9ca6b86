/**
 * Every proposal step is signed with the acting agent's registered key (parsed once,
 * at IDENTIFY, as `session.key`). Sessions whose key was not proven (a relay run with
 * allowUnverifiedKeys) may act too: the operator chose that mode, and the
 * signature itself still proves possession of the claimed key.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.js';
import { verifySignature } from '../../protocol/keys.js';
import { RelayError, type Session } from '../../kernel/types.js';

export interface Signer {
  /** The session's parsed key; SIGNATURE_REQUIRED for an ephemeral agent. */
  requireKey(session: Session): KeyObject;
  /** INVALID_SIGNATURE unless `sig` is the session's signature over `signed`. */
  verify(session: Session, signed: string, sig: string, what: string): void;
}

export function createSigner(): Signer {
  const requireKey = (session: Session): KeyObject => {
    if (session.key === null) {
      throw new RelayError(ErrorCode.SIGNATURE_REQUIRED, 'proposals are signed: IDENTIFY with a pubkey (a persistent identity) to take part in them');
    }
    return session.key;
  };

  return {
    requireKey,
    verify(session, signed, sig, what) {
      if (!verifySignature(requireKey(session), signed, sig)) {
        throw new RelayError(ErrorCode.INVALID_SIGNATURE, `signature does not verify against your key over ${what}`);
      }
    },
  };
}
