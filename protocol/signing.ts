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
  expires?: number | null;
}

/** PROPOSAL: [to, task, amount||'', currency||'', payment_code||'', expires||''].join('|') */
export function proposalSigningString(p: ProposalSigningFields): string {
  return [p.to, p.task, p.amount || '', p.currency || '', p.payment_code || '', p.expires || ''].join('|');
}

export const acceptSigningString = (proposalId: string, paymentCode?: string | null): string =>
  `ACCEPT|${proposalId}|${paymentCode || ''}`;
export const rejectSigningString = (proposalId: string, reason?: string | null): string =>
  `REJECT|${proposalId}|${reason || ''}`;
export const completeSigningString = (proposalId: string, proof?: string | null): string =>
  `COMPLETE|${proposalId}|${proof || ''}`;
export const disputeSigningString = (proposalId: string, reason: string): string =>
  `DISPUTE|${proposalId}|${reason}`;

/** Proof of key possession: the string a client signs to answer CHALLENGE. */
export const authSigningString = (serverName: string, nonce: string): string =>
  `AGENTCHAT-AUTH|${serverName}|${nonce}`;

/** How far a signed MSG's ts may be from server time. */
export const MAX_SIGNED_TS_SKEW_MS = 5 * 60 * 1000;
