import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { join } from 'node:path';
import { generateIdentity, saveIdentity, type LoadedIdentity } from '../client/index.js';
import type { ProposalFrame } from '../protocol/index.js';
import { connectClient, runCli, startRelay, tempDir } from './helpers/cli.js';

/** An identity saved to a file in a temp dir, for `--identity`. */
async function identityFile(t: ExecutionContext, name: string): Promise<{ identity: LoadedIdentity; path: string }> {
  const identity = generateIdentity(name);
  const path = join(await tempDir(t), 'identity.json');
  await saveIdentity(identity, path);
  return { identity, path };
}

/** Runs the CLI, expects exit 0, and parses the JSON it printed. */
async function cliJson(t: ExecutionContext, args: string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await runCli(t, args);
  t.is(code, 0, stderr);
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('propose prints the proposal; accept, complete and proposals act on it from fresh connections with the same identities', async (t) => {
  const relay = await startRelay(t);
  const alice = await identityFile(t, 'alice');
  const bob = await identityFile(t, 'bob');
  // The recipient must be connected when the proposal is made; later commands reconnect by identity.
  const bobOnline = await connectClient(t, relay.url, { identity: bob.identity });
  const offered = once(bobOnline, 'proposal') as Promise<[ProposalFrame]>;

  const proposal = await cliJson(t, ['propose', relay.url, bob.identity.agentId, 'summarize #general',
    '--amount', '5', '--currency', 'USD', '--payment-code', 'pay-alice', '--terms', 'by noon', '--expires', '600', '--identity', alice.path]);
  t.like(proposal, { from: alice.identity.agentId, to: bob.identity.agentId, task: 'summarize #general', amount: 5, currency: 'USD', payment_code: 'pay-alice', terms: 'by noon', status: 'pending' });
  t.false('type' in proposal);
  const id = String(proposal.id);
  t.is((await offered)[0].id, id);
  await bobOnline.disconnect();

  t.like(await cliJson(t, ['accept', relay.url, id, '--payment-code', 'pay-bob', '-i', bob.path]), { proposal_id: id, status: 'accepted', by: bob.identity.agentId, payment_code: 'pay-bob' });
  t.like(await cliJson(t, ['complete', relay.url, id, '--proof', 'sha256:abc', '-i', alice.path]), { proposal_id: id, status: 'completed', proof: 'sha256:abc' });
  const listed = await cliJson(t, ['proposals', relay.url, '--status', 'completed', '-i', bob.path]);
  t.like((listed.list as unknown[])[0], { id, status: 'completed' });
});

test('reject with a reason, dispute with a reason, and a refused step exits 1 with the relay code', async (t) => {
  const relay = await startRelay(t);
  const alice = await identityFile(t, 'alice');
  const bob = await identityFile(t, 'bob');
  const bobOnline = await connectClient(t, relay.url, { identity: bob.identity });
  const aliceOnline = await connectClient(t, relay.url, { identity: alice.identity });
  const declined = await aliceOnline.propose(bob.identity.agentId, { task: 'one' });
  const disputed = await aliceOnline.propose(bob.identity.agentId, { task: 'two' });
  await bobOnline.accept(disputed.id);
  await Promise.all([aliceOnline.disconnect(), bobOnline.disconnect()]);

  t.like(await cliJson(t, ['reject', relay.url, declined.id, '--reason', 'busy', '-i', bob.path]), { status: 'rejected', reason: 'busy' });
  t.like(await cliJson(t, ['dispute', relay.url, disputed.id, 'never delivered', '-i', alice.path]), { status: 'disputed', reason: 'never delivered', by: alice.identity.agentId });

  const refused = await runCli(t, ['accept', relay.url, declined.id, '-i', bob.path]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /error: INVALID_PROPOSAL: .*rejected/);
});

test('bad flags are usage errors (exit 2); without an identity file the command exits 1 naming the file', async (t) => {
  const relay = await startRelay(t);
  const alice = await identityFile(t, 'alice');
  const amount = await runCli(t, ['propose', relay.url, '@abcdef12', 'task', '--amount', 'lots', '-i', alice.path]);
  t.is(amount.code, 2);
  t.regex(amount.stderr, /--amount must be a non-negative number/);
  const status = await runCli(t, ['proposals', relay.url, '--status', 'done', '-i', alice.path]);
  t.is(status.code, 2);
  t.regex(status.stderr, /--status must be one of/);

  const home = await tempDir(t);
  const noIdentity = await runCli(t, ['propose', relay.url, '@abcdef12', 'task'], { env: { HOME: home } });
  t.is(noIdentity.code, 1);
  t.true(noIdentity.stderr.includes(join(home, '.agentchat', 'identity.json')), noIdentity.stderr);
});
