/** The frames both parties see, serialized once and sent to whichever party is connected. */
import type { ProposalFrame, ProposalStepFrame } from '../../protocol/messages.js';
import type { RelayApi } from '../../kernel/types.js';
import type { ProposalStepField as StepField, ProposalStepType as StepType } from '../../protocol/proposals.js';
import type { StoredProposal } from './store.js';

export function proposalFrame(p: StoredProposal): ProposalFrame {
  return {
    type: 'PROPOSAL', id: p.id, from: p.from, to: p.to, task: p.task, amount: p.amount, currency: p.currency,
    payment_code: p.payment_code, terms: p.terms, expires: p.expires, expires_in: p.expires_in, status: p.status, created_at: p.created_at,
    sig: p.sig, ...(p.sig_format === undefined ? {} : { sig_format: p.sig_format }), ts: Date.now(),
  };
}

export function stepFrame(type: StepType, p: StoredProposal, actor: string, field: StepField, value: string | null, sig: string): ProposalStepFrame {
  return {
    type, proposal_id: p.id, status: p.status, updated_at: p.updated_at, from: p.from, to: p.to, by: actor, [field]: value, sig, ts: Date.now(),
  };
}

/** To the proposer and the recipient, each only if connected: the record is kept either way. */
export function deliver(relay: RelayApi, p: StoredProposal, frame: ProposalFrame | ProposalStepFrame): void {
  const text = JSON.stringify(frame);
  for (const agentId of [p.from, p.to]) {
    const session = relay.sessions.byAgentId(agentId);
    if (session !== undefined) relay.sendRaw(session, text);
    // In a cluster the other party may be on another relay; the record is committed either way.
    else if (relay.cluster !== null) void relay.sendTo(agentId, { ...frame }).catch(() => false);
  }
}
