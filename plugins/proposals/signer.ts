/**
 * Every proposal step is signed with the acting agent's registered key (parsed once,
 * at IDENTIFY, and kept in the identity plugin's session slot). Sessions whose key was
 * not proven (a relay run with allowUnverifiedKeys) may act too: the operator chose that mode, and the
 * signature itself still proves possession of the claimed key.
 *
 * The check goes through identity's verifier, as signed MSGs do: off the event loop, within the
 * same relay-wide bounds (RATE_LIMITED past them). The handler awaits it, and the kernel holds
 * the session's later frames meanwhile, so a session's steps keep their order.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.js';
import { verifySignature } from '../../protocol/keys.js';
import { RelayError, type Session, type SessionSlot } from '../../kernel/types.js';
import type { SessionKey } from '../identity/index.js';
import { BUSY, type SignatureVerifier } from '../identity/verifier.js';

export interface Signer {
  /** The session's parsed key; SIGNATURE_REQUIRED for an ephemeral agent. */
  requireKey(session: Session): KeyObject;
  /** Whether the session has a key at all (an ephemeral agent can never sign). */
  hasKey(session: Session): boolean;
  /** The session's key as SPKI PEM; SIGNATURE_REQUIRED without one. */
  pubkey(session: Session): string;
  /** Rejects with INVALID_SIGNATURE unless `sig` is the session's signature over `signed` (RATE_LIMITED when the verifier is full). */
  verify(session: Session, signed: string, sig: string, what: string): Promise<void>;
}

/** `verifier`: identity's, shared with signed MSGs; without one (identity replaced by a plugin of the hoster's) checks run on the loop. */
export function createSigner(keys: SessionSlot<SessionKey>, verifier: () => SignatureVerifier | undefined): Signer {
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
    async verify(session, signed, sig, what) {
      const key = requireKey(session);
      const checks = verifier();
      const verdict = checks === undefined ? verifySignature(key, signed, sig) : checks.check(key, signed, sig);
      if (verdict === BUSY) {
        throw new RelayError(ErrorCode.RATE_LIMITED, 'the relay has as many signatures waiting to be checked as it may keep; retry in a moment', { retry_after_ms: 100 });
      }
      if (!(await verdict)) {
        throw new RelayError(ErrorCode.INVALID_SIGNATURE, `signature does not verify against your key over ${what}`);
      }
    },
  };
}
