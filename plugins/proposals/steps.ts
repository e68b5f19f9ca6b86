/**
 * The proposal state machine: pending → accepted | rejected | expired;
 * accepted → completed | disputed. Who may take each step, from which state,
 * and the canonical string its signature covers.
 */
import { ErrorCode, ProposalReason } from '../../protocol/errors.js';
import type { ProposalStatusName } from '../../protocol/schemas.js';
import { acceptSigningString, completeSigningString, disputeSigningString, rejectSigningString } from '../../protocol/signing.js';
import { RelayError } from '../../kernel/types.js';
import type { StoredProposal } from './store.js';

export type StepType = 'ACCEPT' | 'REJECT' | 'COMPLETE' | 'DISPUTE';

/** The responder's own field each step carries (and signs). */
export type StepField = 'payment_code' | 'reason' | 'proof';

export interface StepRule {
  /** 'recipient': only the proposal's `to`; 'party': `from` or `to`. */
  actor: 'recipient' | 'party';
  requires: 'pending' | 'accepted';
  becomes: ProposalStatusName;
  field: StepField;
  signingString: (proposalId: string, value: string | null | undefined) => string;
}

export const STEPS: Readonly<Record<StepType, StepRule>> = {
  ACCEPT: { actor: 'recipient', requires: 'pending', becomes: 'accepted', field: 'payment_code', signingString: acceptSigningString },
  REJECT: { actor: 'recipient', requires: 'pending', becomes: 'rejected', field: 'reason', signingString: rejectSigningString },
  COMPLETE: { actor: 'party', requires: 'accepted', becomes: 'completed', field: 'proof', signingString: completeSigningString },
  DISPUTE: { actor: 'party', requires: 'accepted', becomes: 'disputed', field: 'reason', signingString: (id, reason) => disputeSigningString(id, reason ?? '') },
};

const refuse = (reason: ProposalReason, message: string): RelayError =>
  new RelayError(ErrorCode.INVALID_PROPOSAL, message, { reason });

export const notFound = (id: string): RelayError =>
  refuse(ProposalReason.PROPOSAL_NOT_FOUND, `proposal ${id} does not exist (or finished long enough ago to be forgotten)`);

/** Refuses an agent that may not take `type` on this proposal. */
export function checkActor(type: StepType, record: StoredProposal, agentId: string): void {
  if (STEPS[type].actor === 'recipient') {
    if (record.to !== agentId) throw refuse(ProposalReason.NOT_PROPOSAL_RECIPIENT, `only ${record.to}, the recipient of ${record.id}, may ${type}`);
  } else if (record.from !== agentId && record.to !== agentId) {
    throw refuse(ProposalReason.NOT_PROPOSAL_PARTY, `only ${record.from} and ${record.to}, the parties to ${record.id}, may ${type}`);
  }
}

/** Refuses a step the proposal's current state does not allow. */
export function checkState(type: StepType, record: StoredProposal): void {
  const rule = STEPS[type];
  if (record.status === rule.requires) return;
  if (record.status === 'expired') throw refuse(ProposalReason.PROPOSAL_EXPIRED, `proposal ${record.id} expired at ${new Date(record.updated_at).toISOString()}`);
  if (rule.requires === 'pending') throw refuse(ProposalReason.PROPOSAL_NOT_PENDING, `proposal ${record.id} is ${record.status}; only a pending proposal can be answered with ${type}`);
  throw refuse(ProposalReason.PROPOSAL_NOT_ACCEPTED, `proposal ${record.id} is ${record.status}; ${type} needs an accepted proposal`);
}
