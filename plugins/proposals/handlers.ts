/** The handlers of PROPOSAL, the four steps and LIST_PROPOSALS. */
import { ErrorCode } from '../../protocol/errors.js';
import type { ProposalsFrame } from '../../protocol/messages.js';
import { MAX_PAGE_BYTES, type ListProposalsMessage, type ProposalMessage } from '../../protocol/schemas.js';
import { proposalSigningString } from '../../protocol/signing.js';
import { RelayError, type RelayApi, type Session } from '../../kernel/types.js';
import { deliver, proposalFrame, stepFrame } from './frames.js';
import type { Signer } from './signer.js';
import { PROPOSAL_STEP_RULES as STEPS, type ProposalStepType as StepType } from '../../protocol/proposals.js';
import { checkActor, checkState, notFound } from './steps.js';
import { newProposalId, sizeOf, type ProposalStore, type StoredProposal } from './store.js';

/** Longest `expires` a PROPOSAL may ask for: 30 days, in seconds. */
export const MAX_EXPIRES_SEC = 30 * 24 * 60 * 60;
/** Extension: a pending proposal sent without `expires` expires after 7 days (its record shows `expires`, `expires_in` stays null). */
export const DEFAULT_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

/** What the four step messages have in common (each schema validates its own field). */
export interface StepMessage {
  proposal_id: string;
  sig: string;
  payment_code?: string | null;
  reason?: string | null;
  proof?: string | null;
}

export interface HandlerContext {
  relay: RelayApi;
  store: ProposalStore;
  signer: Signer;
  now: () => number;
  /** Most records one PROPOSALS frame carries (keeps it under the slow-consumer bound). */
  maxListed: number;
}

export function proposeHandler({ relay, store, signer, now }: HandlerContext) {
  return (session: Session, msg: ProposalMessage): void => {
    const from = session.agentId!;
    signer.requireKey(session);
    if (msg.expires != null && msg.expires > MAX_EXPIRES_SEC) {
      throw new RelayError(ErrorCode.INVALID_MSG, `expires must be at most ${MAX_EXPIRES_SEC} seconds (30 days)`);
    }
    if (msg.to === from) throw new RelayError(ErrorCode.INVALID_MSG, 'a proposal needs another agent: "to" is your own id');
    const target = relay.sessions.byAgentId(msg.to);
    if (target === undefined) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${msg.to} is not connected; a proposal is delivered only to a connected agent`);
    // An ephemeral agent could never sign an answer, and its id never comes back.
    if (!signer.hasKey(target)) throw new RelayError(ErrorCode.SIGNATURE_REQUIRED, `agent ${msg.to} has no key, so it cannot sign an answer to a proposal`);
    signer.verify(session, proposalSigningString(msg), msg.sig, '[to, task, amount, currency, payment_code, expires].join("|")');
    const createdAt = now();
    const record: StoredProposal = {
      id: newProposalId(createdAt),
      from,
      to: msg.to,
      task: msg.task,
      amount: msg.amount ?? null,
      currency: msg.currency ?? null,
      payment_code: msg.payment_code ?? null,
      terms: msg.terms ?? null,
      expires: createdAt + (msg.expires == null ? DEFAULT_LIFETIME_MS : Math.round(msg.expires * 1000)),
      expires_in: msg.expires ?? null,
      status: 'pending',
      created_at: createdAt,
      updated_at: createdAt,
      sig: msg.sig,
      steps: [],
    };
    const noRoom = store.roomFor(from, createdAt, msg.to, sizeOf(record));
    if (noRoom === 'agent_open_limit') throw new RelayError(ErrorCode.LIMIT_EXCEEDED, 'you have too many open (pending or accepted) proposals; wait for some to finish', { reason: 'proposer_open_limit' });
    if (noRoom === 'recipient_open_limit') throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `${msg.to} has too many open proposals to take another; try again later`, { reason: 'recipient_open_limit' });
    if (noRoom === 'relay_limit') throw new RelayError(ErrorCode.LIMIT_EXCEEDED, 'this relay holds as many open proposals as it can; try again later', { reason: 'relay_proposal_limit' });
    store.add(record);
    deliver(relay, record, proposalFrame(record));
  };
}

export function stepHandler(type: StepType, { relay, store, signer, now }: HandlerContext) {
  const rule = STEPS[type];
  return (session: Session, msg: StepMessage): void => {
    const actor = session.agentId!;
    signer.requireKey(session);
    const at = now();
    const record = store.get(msg.proposal_id, at);
    if (record === undefined) throw notFound(msg.proposal_id);
    checkActor(type, record, actor);
    const value = msg[rule.field] ?? null;
    // The id is in the signed string, so a signature for one proposal is useless on another.
    signer.verify(session, rule.signingString(record.id, value), msg.sig, `"${type}|<proposal_id>|<${rule.field}>"`);
    checkState(type, record);
    store.transition(record, rule.becomes, at);
    store.addStep(record, { type, by: actor, at, [rule.field]: value, sig: msg.sig });
    deliver(relay, record, stepFrame(type, record, actor, rule.field, value, msg.sig));
  };
}

export function listHandler({ relay, store, now, maxListed }: HandlerContext) {
  return (session: Session, msg: ListProposalsMessage): void => {
    const all = store.list(session.agentId!, now(), { status: msg.status, role: msg.role });
    // Newest first: a cursor is the last id of the previous page, and the page starts after it.
    const start = msg.cursor === undefined ? 0 : all.findIndex((r) => r.id === msg.cursor) + 1;
    const list: StoredProposal[] = [];
    let bytes = 256;
    for (let i = start; i < all.length && list.length < maxListed; i++) {
      bytes += sizeOf(all[i]) + 1;
      if (bytes > MAX_PAGE_BYTES && list.length > 0) break;
      list.push(all[i]);
    }
    const frame: Omit<ProposalsFrame, 'ts'> = { type: 'PROPOSALS', list };
    // Extension: at most `maxListed` records and 64 KiB a frame; `cursor` asks for the next page.
    if (start + list.length < all.length) {
      frame.truncated = true;
      if (list.length > 0) frame.cursor = list[list.length - 1].id;
    }
    relay.send(session, frame);
  };
}
