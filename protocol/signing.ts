/**
 * Canonical signing strings (PROTOCOL.md § Signatures). The signed bytes are the
 * UTF-8 of these strings; relay, client and any third party must build them
 * identically, so they live here and nowhere else.
 */

/** MSG: JSON.stringify({to, content, ts}) with the client's own ts. */
export function msgSigningString(to: string, content: string, ts: number): string {
  return JSON.stringify({ to, content, ts });
}

export interface ProposalSigningFields {
  to: string;
  task: string;
  amount?: number | string | null;
  currency?: string | null;
  payment_code?: string | null;
  terms?: string | null;
  expires?: number | null;
}

/**
 * PROPOSAL, 0.3.x form: [to, task, amount||'', currency||'', payment_code||'', expires||''].join('|').
 * Ambiguous when a field holds '|' (the relay refuses those) and blind to `terms`.
 */
export function proposalSigningString(p: ProposalSigningFields): string {
  return [p.to, p.task, p.amount || '', p.currency || '', p.payment_code || '', p.expires || ''].join('|');
}

/** `sig_format` of a PROPOSAL signed over proposalCanonicalString (extension). */
export const PROPOSAL_SIG_FORMAT_JSON = 'json';

/**
 * PROPOSAL, canonical form (extension, `sig_format: "json"`): the JSON of every proposal
 * field in a fixed order, absent ones null. One signature stands for exactly one proposal.
 */
export function proposalCanonicalString(p: ProposalSigningFields): string {
  const orNull = <T>(v: T | undefined | null): T | null => (v === undefined ? null : v);
  return JSON.stringify(['AGENTCHAT-PROPOSAL', p.to, p.task, orNull(p.amount), orNull(p.currency), orNull(p.payment_code), orNull(p.terms), orNull(p.expires)]);
}

export const acceptSigningString = (proposalId: string, paymentCode?: string | null): string =>
  `ACCEPT|${proposalId}|${paymentCode || ''}`;
export const rejectSigningString = (proposalId: string, reason?: string | null): string =>
  `REJECT|${proposalId}|${reason || ''}`;
export const completeSigningString = (proposalId: string, proof?: string | null): string =>
  `COMPLETE|${proposalId}|${proof || ''}`;
export const disputeSigningString = (proposalId: string, reason: string): string =>
  `DISPUTE|${proposalId}|${reason}`;

/**
 * Proof of key possession, bound to the relay: the string a client signs to answer
 * CHALLENGE, with the normalized URL it dialled (normalizeRelayUrl), so a proof made
 * for one relay is worthless on another.
 */
export const authSigningString = (serverName: string, nonce: string, url: string): string =>
  `AGENTCHAT-AUTH|${serverName}|${nonce}|${url}`;

/** How far a signed MSG's ts may be from server time. */
export const MAX_SIGNED_TS_SKEW_MS = 5 * 60 * 1000;

/** The fields of an ADMIN frame that its signature covers (PROTOCOL.md § Moderation). */
export interface AdminSigningFields {
  /** The relay URL the admin session proved, normalized (normalizeRelayUrl). */
  url: string;
  ts: number;
  action: string;
  agent?: string | null;
  key?: string | null;
  address?: string | null;
  expires?: number | null;
  reason?: string | null;
  cursor?: string | null;
}

/**
 * ADMIN: the JSON of every field in a fixed order, absent ones null, bound to the relay's
 * URL (as VERIFY is) and to a ts within MAX_SIGNED_TS_SKEW_MS: one signature stands for
 * exactly one action on one relay, and the relay refuses it a second time.
 */
export function adminSigningString(f: AdminSigningFields): string {
  const orNull = <T>(v: T | undefined | null): T | null => (v === undefined ? null : v);
  return JSON.stringify(['AGENTCHAT-ADMIN', f.url, f.ts, f.action, orNull(f.agent), orNull(f.key), orNull(f.address), orNull(f.expires), orNull(f.reason), orNull(f.cursor)]);
}
