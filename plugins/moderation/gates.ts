/**
 * Optional gates for a public relay, each off by default: only agents that proved a key
 * may create channels, or send DMs; and keys first seen here less than `minKeyAgeMs`
 * ago (and agents without a proven key) may read but not write. A gate that is off
 * hooks nothing, so it costs nothing.
 */
import { ErrorCode } from '../../protocol/errors.js';
import { RelayError, type RelayApi, type Session, type SessionSlot } from '../../kernel/types.js';
import type { SessionKey } from '../identity/index.js';
import type { ModerationCounts } from './counts.js';

export interface GateOptions {
  /** Only sessions that proved a key may CREATE_CHANNEL. */
  verifiedOnlyChannels: boolean;
  /** Only sessions that proved a key may send a DM (a MSG to an @id). */
  verifiedOnlyDms: boolean;
  /** Keys first seen less than this long ago, and sessions without a proven key, are read-only (0: off). */
  minKeyAgeMs: number;
}

/** What a read-only agent may not send: everything that writes to others. */
const WRITES = new Set(['CREATE_CHANNEL', 'INVITE', 'PROPOSAL']);

const HOW = 'IDENTIFY with a key and answer the CHALLENGE (agentchat identity --generate, then -i FILE)';

export function installGates(relay: RelayApi, options: GateOptions, keys: SessionSlot<SessionKey>, counts: ModerationCounts): void {
  const { verifiedOnlyChannels, verifiedOnlyDms, minKeyAgeMs } = options;
  const verified = (session: Session) => keys.get(session)?.verified === true;
  const refuse = (code: string, message: string, extras: Record<string, unknown> = {}) => {
    counts.refusals.gate++;
    return new RelayError(code, message, extras);
  };

  /** Null when the session may write, else why not. */
  const readOnly = (session: Session, what: string): RelayError | null => {
    if (minKeyAgeMs <= 0) return null;
    const key = keys.get(session);
    if (key === undefined || !key.verified) {
      return refuse(ErrorCode.VERIFICATION_REQUIRED, `on this relay agents without a proven key may read but not ${what}; ${HOW}`);
    }
    const age = Date.now() - (key.firstSeen ?? Date.now());
    if (age >= minKeyAgeMs) return null;
    const wait = minKeyAgeMs - age;
    return refuse(ErrorCode.KEY_TOO_NEW, `on this relay a key may ${what} once it is ${Math.ceil(minKeyAgeMs / 1000)} s old; yours was first seen ${Math.floor(age / 1000)} s ago, retry after ${wait} ms`, { retry_after_ms: wait });
  };

  if (verifiedOnlyChannels || minKeyAgeMs > 0) {
    relay.hook('frame', (session, type) => {
      if (type === 'CREATE_CHANNEL' && verifiedOnlyChannels && !verified(session)) {
        return refuse(ErrorCode.VERIFICATION_REQUIRED, `on this relay only agents that proved a key may create channels; ${HOW}`);
      }
      if (WRITES.has(type)) return readOnly(session, type === 'CREATE_CHANNEL' ? 'create channels' : type === 'INVITE' ? 'invite' : 'propose') ?? undefined;
    });
  }

  if (verifiedOnlyDms || minKeyAgeMs > 0) {
    relay.hook('message', (session, msg) => {
      if (verifiedOnlyDms && msg.to.charCodeAt(0) === 64 /* @ */ && !verified(session)) {
        return refuse(ErrorCode.VERIFICATION_REQUIRED, `on this relay only agents that proved a key may send direct messages; ${HOW}`);
      }
      return readOnly(session, 'send messages') ?? undefined;
    });
  }
}
