/**
 * Every proposal step is signed with the acting agent's registered key. Keys are
 * parsed once per session. Sessions whose key was not proven (a relay run with
 * allowUnverifiedKeys) may act too: the operator chose that mode, and the
 * signature itself still proves possession of the claimed key.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.js';
import { parsePublicKey, verifySignature } from '../../protocol/keys.js';
import { RelayError, type Session } from '../../kernel/types.js';

export interface Signer {
  /** The session's parsed key; SIGNATURE_REQUIRED for an ephemeral agent. */
  requireKey(session: Session): KeyObject;
  /** INVALID_SIGNATURE unless `sig` is the session's signature over `signed`. */
  verify(session: Session, signed: string, sig: string, what: string): void;
}

export function createSigner(): Signer {
  const keys = new WeakMap<Session, KeyObject>();

  const requireKey = (session: Session): KeyObject => {
    let key = keys.get(session);
    if (key !== undefined) return key;
    if (session.pubkey === null) {
      throw new RelayError(ErrorCode.SIGNATURE_REQUIRED, 'proposals are signed: IDENTIFY with a pubkey (a persistent identity) to take part in them');
    }
    key = parsePublicKey(session.pubkey).key;
    keys.set(session, key);
    return key;
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
