/**
 * Checking a signed MSG in the browser against the sender's key (from WHOIS): the key
 * must hash to the sender's agent id (so a relay cannot hand out another key), and the
 * signature must cover exactly {to, content, sig_ts}.
 */
import type { MsgFrame } from '../../protocol/messages.js';
import { msgSigningString } from '../../protocol/signing.js';
import { agentIdFromPem, publicKeyFromText, spkiPem, verifyText } from './keys.js';

export type SignatureCheck =
  | { ok: true }
  | { ok: false; reason: 'unsigned' | 'key-mismatch' | 'bad-signature' | 'bad-key' };

/** Whether `frame` was signed by the holder of `pubkey` (SPKI PEM), the key of agent `frame.from`. */
export function checkMsgSignature(frame: Pick<MsgFrame, 'from' | 'to' | 'content' | 'sig' | 'sig_ts'>, pubkey: string): SignatureCheck {
  if (typeof frame.sig !== 'string' || typeof frame.sig_ts !== 'number') return { ok: false, reason: 'unsigned' };
  let raw: Uint8Array;
  try {
    raw = publicKeyFromText(pubkey);
  } catch {
    return { ok: false, reason: 'bad-key' };
  }
  const pem = spkiPem(raw);
  const long = frame.from.length === 17;
  if (agentIdFromPem(pem, long) !== frame.from) return { ok: false, reason: 'key-mismatch' };
  return verifyText(raw, msgSigningString(frame.to, frame.content, frame.sig_ts), frame.sig) ? { ok: true } : { ok: false, reason: 'bad-signature' };
}
