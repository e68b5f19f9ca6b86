/** The handlers of PROPOSAL, the four steps and LIST_PROPOSALS. */
import { ErrorCode } from '../../protocol/errors.js';
import type { ProposalsFrame } from '../../protocol/messages.js';
import { MAX_PAGE_BYTES, type ListProposalsMessage, type ProposalMessage } from '../../protocol/schemas.js';
import { proposalCanonicalString, proposalSigningString } from '../../protocol/signing.js';
import { RelayError, type RelayApi, type Session } from '../../kernel/types.js';
import type { StoredValue, StoreNamespace } from '../../store/types.js';
import { committed } from '../committed.js';
import { registeredKey } from '../identity/index.js';
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
  /** The durable copy: every proposal and step is committed here before it is delivered. */
  saved: StoreNamespace;
  /** Proposals with a step being saved: a second step waits for the first to land. */
  saving: Set<string>;
  signer: Signer;
  now: () => number;
  /** Most records one PROPOSALS frame carries (keeps it under the slow-consumer bound). */
  maxListed: number;
}

export function proposeHandler({ relay, store, saved, signer, now }: HandlerContext) {
  return async (session: Session, msg: ProposalMessage): Promise<void> => {
    const from = session.agentId!;
    signer.requireKey(session);
    if (msg.expires != null && msg.expires > MAX_EXPIRES_SEC) {
      throw new RelayError(ErrorCode.INVALID_MSG, `expires must be at most ${MAX_EXPIRES_SEC} seconds (30 days)`);
    }
    if (msg.to === from) throw new RelayError(ErrorCode.INVALID_MSG, 'a proposal needs another agent: "to" is your own id');
    const target = relay.sessions.byAgentId(msg.to);
    // In a cluster the recipient may be on another relay: its key is the one the registry holds for its id.
    const online = target !== undefined || (relay.cluster !== null && (await relay.cluster.online(msg.to)));
    if (!online) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${msg.to} is not connected; a proposal is delivered only to a connected agent`);
    const elsewhere = target === undefined ? registeredKey(relay)(msg.to) : undefined;
    if (target === undefined && elsewhere === undefined) throw new RelayError(ErrorCode.SIGNATURE_REQUIRED, `agent ${msg.to} has no key, so it cannot sign an answer to a proposal`);
    // An ephemeral agent could never sign an answer, and its id never comes back.
    if (target !== undefined && !signer.hasKey(target)) throw new RelayError(ErrorCode.SIGNATURE_REQUIRED, `agent ${msg.to} has no key, so it cannot sign an answer to a proposal`);
    // Both keys now: the recipient may leave while the signature is checked.
    const parties = { from: signer.pubkey(session), to: target !== undefined ? signer.pubkey(target) : elsewhere!.pubkey };
    const fields = signedFields(msg);
    if (msg.sig_format === 'json') {
      await signer.verify(session, proposalCanonicalString(fields), msg.sig, 'JSON.stringify(["AGENTCHAT-PROPOSAL", to, task, amount, currency, payment_code, terms, expires])');
    } else {
      await signer.verify(session, proposalSigningString(fields), msg.sig, '[to, task, amount, currency, payment_code, expires].join("|")');
    }
    const createdAt = now();
    const record: StoredProposal = {
      id: newProposalId(createdAt),
      from,
      to: msg.to,
      task: msg.task,
      amount: fields.amount ?? null,
      currency: fields.currency ?? null,
      payment_code: fields.payment_code ?? null,
      terms: msg.terms ?? null,
      expires: createdAt + (msg.expires == null ? DEFAULT_LIFETIME_MS : Math.round(msg.expires * 1000)),
      expires_in: msg.expires ?? null,
      status: 'pending',
      created_at: createdAt,
      updated_at: createdAt,
      sig: msg.sig,
      ...(msg.sig_format === undefined ? {} : { sig_format: msg.sig_format }),
      steps: [],
      parties,
    };
    const noRoom = store.roomFor(from, createdAt, msg.to, sizeOf(record));
    if (noRoom === 'agent_open_limit') throw new RelayError(ErrorCode.LIMIT_EXCEEDED, 'you have too many open (pending or accepted) proposals; wait for some to finish', { reason: 'proposer_open_limit' });
    if (noRoom === 'recipient_open_limit') throw new RelayError(ErrorCode.LIMIT_EXCEEDED, `${msg.to} has too many open proposals to take another; try again later`, { reason: 'recipient_open_limit' });
    if (noRoom === 'relay_limit') throw new RelayError(ErrorCode.LIMIT_EXCEEDED, 'this relay holds as many open proposals as it can; try again later', { reason: 'relay_proposal_limit' });
    await committed(saved.put(record.id, record as unknown as StoredValue), `proposal ${record.id}`, relay.logger);
    store.add(record);
    deliver(relay, record, proposalFrame(record));
  };
}

/**
 * The fields a PROPOSAL's signature covers. In the 0.3.x '|' form a field holding '|'
 * could shift the others, and amount 0 signs like no amount: the first is refused and
 * the second stored as no amount, so one signature never stands for two proposals.
 */
function signedFields(msg: ProposalMessage) {
  const fields = { to: msg.to, task: msg.task, amount: msg.amount, currency: msg.currency, payment_code: msg.payment_code, terms: msg.terms, expires: msg.expires };
  if (msg.sig_format === 'json') return fields;
  for (const name of ['task', 'currency', 'payment_code'] as const) {
    if (fields[name]?.includes('|')) {
      throw new RelayError(ErrorCode.INVALID_PROPOSAL, `"${name}" holds '|', which the 0.3.x signing string cannot tell from a field separator; sign with sig_format "json" (this project's clients do)`);
    }
  }
  if (fields.amount !== undefined && fields.amount !== null && Number(fields.amount) === 0) fields.amount = null;
  return fields;
}

export function stepHandler(type: StepType, { relay, store, saved, saving, signer, now }: HandlerContext) {
  const rule = STEPS[type];
  return async (session: Session, msg: StepMessage): Promise<void> => {
    const actor = session.agentId!;
    signer.requireKey(session);
    const found = store.get(msg.proposal_id, now());
    if (found === undefined) throw notFound(msg.proposal_id);
    checkActor(type, found, actor);
    // By key, not only by id: a key whose id collides with a party's can never act for it.
    const party = actor === found.to ? found.parties.to : found.parties.from;
    if (signer.pubkey(session) !== party) {
      throw new RelayError(ErrorCode.INVALID_PROPOSAL, `${actor} took part in proposal ${found.id} with another key than yours`, { reason: 'NOT_PROPOSAL_PARTY' });
    }
    const value = msg[rule.field] ?? null;
    // The id is in the signed string, so a signature for one proposal is useless on another.
    await signer.verify(session, rule.signingString(found.id, value), msg.sig, `"${type}|<proposal_id>|<${rule.field}>"`);
    // The other party may have stepped (or the proposal expired) while the signature was checked: decide on what is there now.
    const at = now();
    const record = store.get(msg.proposal_id, at);
    if (record === undefined) throw notFound(msg.proposal_id);
    checkState(type, record);
    if (saving.has(record.id)) {
      throw new RelayError(ErrorCode.UNAVAILABLE, `another step of ${record.id} is being saved right now; send yours again once it is answered`);
    }
    // Committed as it will be, then applied: an acknowledged step is never lost, an unsaved one never shown.
    const step = { type, by: actor, at, [rule.field]: value, sig: msg.sig };
    const next = { ...record, status: rule.becomes, updated_at: at, steps: [...record.steps, step] };
    saving.add(record.id);
    try {
      if (saved.putIf === undefined) {
        await committed(saved.put(record.id, next as unknown as StoredValue), `step ${type} of ${record.id}`, relay.logger);
      } else if (!(await committed(saved.putIf(record.id, next as unknown as StoredValue, record as unknown as StoredValue), `step ${type} of ${record.id}`, relay.logger))) {
        // Another relay of the cluster took a step first: decide again on what it committed.
        const fresh = await saved.get<StoredValue>(record.id);
        store.replace(record.id, fresh as unknown as StoredProposal | undefined);
        const now = store.get(record.id, at);
        if (now === undefined) throw notFound(record.id);
        checkState(type, now);
        throw new RelayError(ErrorCode.UNAVAILABLE, `${record.id} changed on another relay while your ${type} was saved; send it again`);
      }
    } finally {
      saving.delete(record.id);
    }
    store.transition(record, rule.becomes, at);
    store.addStep(record, step);
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
    // The parties' keys stay on the relay: WHOIS gives them, and they would double each record's size.
    const frame: Omit<ProposalsFrame, 'ts'> = { type: 'PROPOSALS', list: list.map(({ parties: _keys, ...listed }) => listed) };
    // Extension: at most `maxListed` records and 64 KiB a frame; `cursor` asks for the next page.
    if (start + list.length < all.length) {
      frame.truncated = true;
      if (list.length > 0) frame.cursor = list[list.length - 1].id;
    }
    relay.send(session, frame);
  };
}
