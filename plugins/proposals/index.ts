/**
 * proposals: signed work proposals between agents — PROPOSAL, ACCEPT, REJECT,
 * COMPLETE, DISPUTE and LIST_PROPOSALS (extension). Records are kept by agent
 * id, so an agent that reconnects with its key finds its proposals again.
 */
import { Accept, Complete, Dispute, ListProposals, Proposal, Reject, type AcceptMessage, type CompleteMessage, type DisputeMessage, type RejectMessage } from '../../protocol/schemas.js';
import type { Plugin, RelayApi } from '../../kernel/types.js';
import { sessionKeys, sharedVerifier } from '../identity/index.js';
import { listHandler, proposeHandler, stepHandler, type HandlerContext } from './handlers.js';
import { createSigner } from './signer.js';
import { ProposalStore, type StoredProposal } from './store.js';
import type { StoredValue } from '../../store/types.js';
import { behind } from '../committed.js';

export interface ProposalsOptions {
  /** Open (pending or accepted) proposals an agent (a key) may have as proposer (default 100). */
  maxOpenPerAgent?: number;
  /** Open proposals an agent may have as recipient (default 100). */
  maxOpenPerRecipient?: number;
  /** Proposals the relay keeps in all; finished ones are evicted first (default 50,000). */
  maxProposals?: number;
  /** Bytes of proposal records (as JSON) the relay keeps in all; finished ones are evicted first (default 32 MiB). */
  maxBytes?: number;
  /** How long finished and expired proposals stay readable (default 24 h). */
  retentionMs?: number;
  /** Most proposals one PROPOSALS answer lists, newest first (default 100). */
  maxListed?: number;
  /** How often expired and finished proposals are reclaimed (default: a tenth of retention, at most a minute). */
  sweepMs?: number;
  /** The clock for created_at, updated_at and expiry (tests inject one). */
  now?: () => number;
}

export const PROPOSALS_DEFAULTS = {
  maxOpenPerAgent: 100, maxOpenPerRecipient: 100, maxProposals: 50_000, maxBytes: 32 * 1024 * 1024, retentionMs: 24 * 60 * 60 * 1000, maxListed: 100,
} as const;

export function proposals(defaults: ProposalsOptions = {}): Plugin<ProposalsOptions> {
  return {
    name: 'proposals',
    // Signatures are checked against the key identity proved at IDENTIFY.
    dependencies: ['identity'],
    async setup(relay: RelayApi, setupOptions: ProposalsOptions) {
      const options = { ...PROPOSALS_DEFAULTS, ...defaults, ...setupOptions };
      const retentionMs = options.retentionMs;
      const saved = relay.store.namespace('proposals');
      const store = new ProposalStore({
        maxOpenPerAgent: options.maxOpenPerAgent,
        maxOpenPerRecipient: options.maxOpenPerRecipient,
        maxProposals: options.maxProposals,
        maxBytes: options.maxBytes,
        retentionMs,
      }, (id) => behind(saved.delete(id), `reclaiming proposal ${id}`, relay.logger));
      // After a restart every proposal is back, with its signed steps; expiry still applies on read.
      const restored = await saved.entries<StoredValue>();
      for (const [, record] of restored.sort(([, a], [, b]) => (a as unknown as StoredProposal).created_at - (b as unknown as StoredProposal).created_at)) {
        store.restore(record as unknown as StoredProposal);
      }
      // In a cluster the other relays create and step proposals too: their committed records replace ours.
      relay.store.watch?.('proposals', (id, value) => store.replace(id, value as unknown as StoredProposal | undefined));
      const now = options.now ?? Date.now;
      const context: HandlerContext = {
        relay, store, saved, saving: new Set(), signer: createSigner(sessionKeys(relay), () => sharedVerifier(relay)), now, maxListed: options.maxListed,
      };

      relay.handle('PROPOSAL', { schema: Proposal, rateClass: 'msg', handle: proposeHandler(context) });
      relay.handle<AcceptMessage>('ACCEPT', { schema: Accept, rateClass: 'msg', handle: stepHandler('ACCEPT', context) });
      relay.handle<RejectMessage>('REJECT', { schema: Reject, rateClass: 'msg', handle: stepHandler('REJECT', context) });
      relay.handle<CompleteMessage>('COMPLETE', { schema: Complete, rateClass: 'msg', handle: stepHandler('COMPLETE', context) });
      relay.handle<DisputeMessage>('DISPUTE', { schema: Dispute, rateClass: 'msg', handle: stepHandler('DISPUTE', context) });
      relay.handle('LIST_PROPOSALS', { schema: ListProposals, handle: listHandler(context) });

      const sweepMs = options.sweepMs ?? Math.max(10, Math.min(60_000, Math.floor(retentionMs / 10)));
      relay.every(sweepMs, () => store.sweep(now()));
    },
  };
}
