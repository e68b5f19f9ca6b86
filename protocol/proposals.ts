/**
 * The proposal vocabulary, once: statuses, roles, the four steps and, for each step,
 * who may take it, from which status, what it leads to, the responder field it
 * carries and the string its signature covers. Relay plugin, client, CLI and store
 * all read it from here.
 */
import {
  acceptSigningString, completeSigningString, disputeSigningString, proposalCanonicalString, proposalSigningString, rejectSigningString,
  type ProposalSigningFields,
} from './signing.js';

/** pending → accepted | rejected | expired; accepted → completed | disputed. */
export const PROPOSAL_STATUSES = ['pending', 'accepted', 'rejected', 'expired', 'completed', 'disputed'] as const;
export type ProposalStatusName = (typeof PROPOSAL_STATUSES)[number];

/** Statuses in which a proposal still binds its parties. */
export const OPEN_PROPOSAL_STATUSES: ReadonlySet<ProposalStatusName> = new Set(['pending', 'accepted']);

/** LIST_PROPOSALS filter: proposals you made, you received, or both. */
export const PROPOSAL_ROLES = ['proposer', 'recipient', 'any'] as const;
export type ProposalRole = (typeof PROPOSAL_ROLES)[number];

export const PROPOSAL_STEPS = ['ACCEPT', 'REJECT', 'COMPLETE', 'DISPUTE'] as const;
export type ProposalStepType = (typeof PROPOSAL_STEPS)[number];

/** The responder's own field each step carries (and signs). */
export type ProposalStepField = 'payment_code' | 'reason' | 'proof';

export interface ProposalStepRule {
  /** 'recipient': only the proposal's `to`; 'party': `from` or `to`. */
  actor: 'recipient' | 'party';
  requires: 'pending' | 'accepted';
  becomes: ProposalStatusName;
  field: ProposalStepField;
  signingString: (proposalId: string, value: string | null | undefined) => string;
}

export const PROPOSAL_STEP_RULES: Readonly<Record<ProposalStepType, ProposalStepRule>> = {
  ACCEPT: { actor: 'recipient', requires: 'pending', becomes: 'accepted', field: 'payment_code', signingString: acceptSigningString },
  REJECT: { actor: 'recipient', requires: 'pending', becomes: 'rejected', field: 'reason', signingString: rejectSigningString },
  COMPLETE: { actor: 'party', requires: 'accepted', becomes: 'completed', field: 'proof', signingString: completeSigningString },
  DISPUTE: { actor: 'party', requires: 'accepted', becomes: 'disputed', field: 'reason', signingString: (id, reason) => disputeSigningString(id, reason ?? '') },
};

/** The string a PROPOSAL's `sig` covers, in the form its `sig_format` names. */
export function proposalSignedString(p: ProposalSigningFields & { sig_format?: string; expires_in?: number | null }): string {
  // A record keeps `expires` as an absolute time and what was signed as `expires_in`.
  const fields = { ...p, expires: p.expires_in !== undefined ? p.expires_in : p.expires };
  return p.sig_format === 'json' ? proposalCanonicalString(fields) : proposalSigningString(fields);
}
