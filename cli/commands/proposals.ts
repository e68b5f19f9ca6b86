/**
 * Signed work proposals: propose, accept, reject, complete, dispute, proposals.
 * Each prints the relay's answer as JSON. They sign, so they always use an
 * identity (-i, else ~/.agentchat/identity.json, which must exist); the relay keeps proposals by
 * agent id, so a later command with the same identity acts on them.
 */
import type { Sade } from 'sade';
import { defaultIdentityPath, type AgentChatClient, type ListProposalsFilter } from '../../client/index.js';
import { PROPOSAL_ROLES, PROPOSAL_STATUSES, ProposalStatus } from '../../protocol/index.js';
import { agentArg, requireArg } from '../arguments.js';
import { clientOptions, withClient, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT, UsageError } from '../errors.js';
import { stringFlags } from '../flags.js';
import { optionalNumber } from '../numbers.js';
import { printJson } from '../output.js';

interface ProposalFlags extends ClientFlags {
  amount?: unknown;
  currency?: unknown;
  'payment-code'?: unknown;
  terms?: unknown;
  expires?: unknown;
  reason?: unknown;
  proof?: unknown;
  status?: unknown;
  role?: unknown;
}

export function registerProposals(prog: Sade): void {
  stringFlags('amount', 'currency', 'payment-code', 'terms', 'expires', 'reason', 'proof', 'status', 'role');
  const identityHelp = `(default identity ${defaultIdentityPath()})`;

  withClientFlags(prog.command('propose <server> <agent> <task>').describe(`Propose work to a connected agent; prints the proposal with its id ${identityHelp}.`))
    .option('--amount', 'What you offer to pay (a non-negative number)')
    .option('--currency', 'Currency of the amount, e.g. USD')
    .option('--payment-code', 'Where to pay you, e.g. a wallet address')
    .option('--terms', 'Terms of the work')
    .option('--expires', 'Seconds until an unanswered proposal expires (at most 2592000)')
    .example('propose ws://localhost:6667 @a1b2c3d4 "summarize #general" --amount 5 --currency USD --expires 3600')
    .action((server: unknown, agent: unknown, task: unknown, flags: ProposalFlags) => {
      // Arguments are checked before connecting: a usage error never reaches the relay.
      const to = agentArg(agent);
      const proposal = {
        task: requireArg(task, 'task'),
        amount: optionalNumber(flags.amount, '--amount', { min: 0 }),
        currency: optionalText(flags.currency),
        payment_code: optionalText(flags['payment-code']),
        terms: optionalText(flags.terms),
        expires: optionalNumber(flags.expires, '--expires', { above: 0, max: 2_592_000, unit: 'seconds' }),
      };
      return act(server, flags, (c) => c.propose(to, proposal));
    });

  withClientFlags(prog.command('accept <server> <id>').describe(`Accept a proposal made to you ${identityHelp}.`))
    .option('--payment-code', 'Your own payment code')
    .action((server: unknown, id: unknown, flags: ProposalFlags) => {
      const proposalId = requireArg(id, 'id');
      return act(server, flags, (c) => c.accept(proposalId, optionalText(flags['payment-code'])));
    });

  withClientFlags(prog.command('reject <server> <id>').describe(`Reject a proposal made to you ${identityHelp}.`))
    .option('--reason', 'Why')
    .action((server: unknown, id: unknown, flags: ProposalFlags) => {
      const proposalId = requireArg(id, 'id');
      return act(server, flags, (c) => c.reject(proposalId, optionalText(flags.reason)));
    });

  withClientFlags(prog.command('complete <server> <id>').describe(`Mark an accepted proposal done (either party) ${identityHelp}.`))
    .option('--proof', 'Proof of the work, e.g. a URL or a hash')
    .action((server: unknown, id: unknown, flags: ProposalFlags) => {
      const proposalId = requireArg(id, 'id');
      return act(server, flags, (c) => c.complete(proposalId, optionalText(flags.proof)));
    });

  withClientFlags(prog.command('dispute <server> <id> <reason>').describe(`Dispute an accepted proposal (either party) ${identityHelp}.`))
    .action((server: unknown, id: unknown, reason: unknown, flags: ProposalFlags) => {
      const [proposalId, why] = [requireArg(id, 'id'), requireArg(reason, 'reason')];
      return act(server, flags, (c) => c.dispute(proposalId, why));
    });

  withClientFlags(prog.command('proposals <server>').describe(`List your proposals, newest first ${identityHelp}.`))
    .option('--status', 'Only this status: pending, accepted, rejected, expired, completed, disputed')
    .option('--role', 'proposer, recipient or any (default any)')
    .action((server: unknown, flags: ProposalFlags) => {
      const filter = listFilter(flags);
      return act(server, flags, (c) => c.listProposals(filter));
    });
}

/** Connect with the identity (signing needs one), run the request, print its answer without the frame's type and ts. */
async function act(server: unknown, flags: ProposalFlags, ask: (client: AgentChatClient) => Promise<{ type?: string; ts?: number }>): Promise<number> {
  if (flags.ephemeral === true) throw new UsageError('proposals are signed: they need an identity, not --ephemeral');
  // Signing needs a key: without -i the default file is used, and a missing one is reported as such.
  const options = clientOptions(server, { ...flags, identity: flags.identity ?? defaultIdentityPath() });
  const { type: _type, ts: _ts, ...answer } = await withClient(options, ask);
  printJson(answer);
  return EXIT.OK;
}

function optionalText(value: unknown): string | undefined {
  return value === undefined ? undefined : String(value);
}


function listFilter(flags: ProposalFlags): ListProposalsFilter {
  const filter: ListProposalsFilter = {};
  if (flags.status !== undefined) {
    const status = String(flags.status);
    if (!ProposalStatus.is(status)) throw new UsageError(`--status must be one of ${PROPOSAL_STATUSES.join(', ')}; got ${JSON.stringify(status)}`);
    filter.status = status;
  }
  if (flags.role !== undefined) {
    const role = PROPOSAL_ROLES.find((r) => r === String(flags.role));
    if (role === undefined) throw new UsageError(`--role must be one of ${PROPOSAL_ROLES.join(', ')}; got ${JSON.stringify(flags.role)}`);
    filter.role = role;
  }
  return filter;
}
