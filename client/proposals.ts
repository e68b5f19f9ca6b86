/**
 * Signed work proposals from the client side: each request is signed with the
 * loaded identity and resolves with the relay's frame for it (the PROPOSAL echo
 * carries the new id). AgentChatClient's proposal methods call these.
 */
import type { ProposalFrame, ProposalsFrame, ProposalStepFrame } from '../protocol/messages.js';
import { asAgentId } from '../protocol/names.js';
import { PROPOSAL_STEP_RULES, type ProposalRole, type ProposalStatusName, type ProposalStepType } from '../protocol/proposals.js';
import { proposalCanonicalString, PROPOSAL_SIG_FORMAT_JSON } from '../protocol/signing.js';
import { AgentChatError } from './errors.js';
import type { AnyFrame } from './pending.js';

/** What a proposal offers; `expires` is in seconds from now (at most 30 days). */
export interface ProposalInput {
  task: string;
  amount?: number | string;
  currency?: string;
  payment_code?: string;
  terms?: string;
  expires?: number;
}

export interface ListProposalsFilter {
  status?: ProposalStatusName;
  role?: ProposalRole;
}

/** The part of AgentChatClient these functions use. */
export interface ProposalRequester {
  readonly server: string;
  readonly connected: boolean;
  readonly identity: object | null;
  readonly agentId: string | null;
  /** Sign with the loaded identity (base64 Ed25519). */
  sign(data: string): string;
  request<T extends { type: string }>(
    frame: { type: string; [field: string]: unknown },
    expect: { answer: string; match?: (frame: AnyFrame) => boolean; label: string },
  ): Promise<T>;
}


/** Check that the client can sign; refused locally (the relay would answer SIGNATURE_REQUIRED) without an identity. */
function requireIdentity(client: ProposalRequester, what: string): void {
  // An identity given as a path is loaded on connect: before that, "not connected" is the real cause.
  if (!client.connected) throw new AgentChatError('NOT_CONNECTED', `not connected to ${client.server}: cannot send ${what}`);
  if (client.identity === null) {
    throw new AgentChatError('SIGNATURE_REQUIRED', `${what} must be signed: connect with an identity (the identity option, or --identity)`);
  }
}

/** Propose work to a connected agent; resolves with the PROPOSAL echo, whose `id` names it from now on. */
export async function propose(client: ProposalRequester, to: string, input: ProposalInput): Promise<ProposalFrame> {
  requireIdentity(client, 'a PROPOSAL');
  const target = asAgentId(to);
  const { task, amount, currency, payment_code, terms, expires } = input;
  // The canonical form covers every field, terms included, and cannot be read two ways.
  const sig = client.sign(proposalCanonicalString({ to: target, task, amount, currency, payment_code, terms, expires }));
  const me = client.agentId;
  return client.request<ProposalFrame>(
    { type: 'PROPOSAL', to: target, task, amount, currency, payment_code, terms, expires, sig, sig_format: PROPOSAL_SIG_FORMAT_JSON },
    { answer: 'PROPOSAL', match: (f) => f.from === me && f.to === target && f.sig === sig, label: `PROPOSAL echo to ${target}` },
  );
}

/** One step on a proposal, signed; resolves with the relay's frame for it (sent to both parties). */
async function step(client: ProposalRequester, type: ProposalStepType, proposalId: string, value: string | undefined): Promise<ProposalStepFrame> {
  requireIdentity(client, type);
  const { field, signingString } = PROPOSAL_STEP_RULES[type];
  const sig = client.sign(signingString(proposalId, value));
  const me = client.agentId;
  return client.request<ProposalStepFrame>(
    { type, proposal_id: proposalId, [field]: value, sig },
    { answer: type, match: (f) => f.proposal_id === proposalId && f.by === me, label: `${type} of ${proposalId}` },
  );
}

/** As the recipient: accept, optionally with your own payment code. */
export const accept = (client: ProposalRequester, proposalId: string, paymentCode?: string) =>
  step(client, 'ACCEPT', proposalId, paymentCode);

/** As the recipient: decline, optionally saying why. */
export const reject = (client: ProposalRequester, proposalId: string, reason?: string) =>
  step(client, 'REJECT', proposalId, reason);

/** As either party of an accepted proposal: mark the work done, optionally with a proof. */
export const complete = (client: ProposalRequester, proposalId: string, proof?: string) =>
  step(client, 'COMPLETE', proposalId, proof);

/** As either party of an accepted proposal: dispute it, saying why. */
export const dispute = (client: ProposalRequester, proposalId: string, reason: string) =>
  step(client, 'DISPUTE', proposalId, reason);

/** Your proposals (extension), newest first; e.g. what is pending for you after a reconnect. */
export function listProposals(client: ProposalRequester, filter: ListProposalsFilter = {}): Promise<ProposalsFrame> {
  return client.request<ProposalsFrame>({ type: 'LIST_PROPOSALS', ...filter }, { answer: 'PROPOSALS', label: 'PROPOSALS' });
}
