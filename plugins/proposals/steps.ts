/**
 * Enforcing the proposal state machine (its rules are protocol/proposals.ts): refusing
 * an agent that may not take a step, or a step the proposal's status does not allow.
 */
import { ErrorCode, ProposalReason } from '../../protocol/errors.js';
import { PROPOSAL_STEP_RULES as STEPS, type ProposalStepType as StepType } from '../../protocol/proposals.js';
import { RelayError } from '../../kernel/types.js';
import type { StoredProposal } from './store.js';

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
