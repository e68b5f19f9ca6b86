/**
 * The audit export: `agentchat export --data-dir` writes every proposal with its signed
 * steps as JSON lines, and each signature verifies offline with node:crypto and the
 * parties' public keys alone.
 */
import test from 'ava';
import { createPublicKey, verify } from 'node:crypto';
import {
  acceptSigningString, completeSigningString, PROPOSAL_STEP_RULES, proposalCanonicalString, proposalSignedString, PROPOSAL_SIG_FORMAT_JSON,
  proposalSigningString, signString, type ProposalStepType,
} from '../protocol/index.js';
import { createRelay } from '../relay.js';
import { sqliteStore } from '../store/index.js';
import { runCli, tempDir } from './helpers/cli.js';
import { connectAs, newKeyPair } from './helpers/relay-client.js';

test('export writes the signed proposal records; every signature verifies offline with the parties\' keys alone', async (t) => {
  const dir = await tempDir(t);
  const relay = createRelay({ port: 0, host: '127.0.0.1', log: false, store: sqliteStore({ dataDir: dir }), pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  await relay.listen();
  t.teardown(() => relay.close());
  const [aliceKeys, bobKeys] = [newKeyPair(), newKeyPair()];
  const alice = await connectAs(t, relay, 'alice', aliceKeys);
  const bob = await connectAs(t, relay, 'bob', bobKeys);
  // One in the canonical form, one the 0.3.x way with an expiry.
  const canonical = { to: bob.agentId!, task: 'audit the books', amount: 120, currency: 'EUR', terms: 'net 30' };
  alice.send({ type: 'PROPOSAL', ...canonical, sig: signString(aliceKeys.privateKey, proposalCanonicalString(canonical)), sig_format: PROPOSAL_SIG_FORMAT_JSON });
  const first = String((await bob.next('PROPOSAL')).id);
  const legacy = { to: bob.agentId!, task: 'translate', amount: 5, expires: 3600 };
  alice.send({ type: 'PROPOSAL', ...legacy, sig: signString(aliceKeys.privateKey, proposalSigningString(legacy)) });
  await bob.next('PROPOSAL');
  bob.send({ type: 'ACCEPT', proposal_id: first, payment_code: 'IBAN-1', sig: signString(bobKeys.privateKey, acceptSigningString(first, 'IBAN-1')) });
  await bob.next('ACCEPT');
  alice.send({ type: 'COMPLETE', proposal_id: first, proof: 'report.pdf', sig: signString(aliceKeys.privateKey, completeSigningString(first, 'report.pdf')) });
  await alice.next('COMPLETE');
  await relay.close();

  const run = await runCli(t, ['export', '--data-dir', dir]);
  t.is(run.code, 0, run.stderr);
  const records = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.is(records.length, 2);
  // The auditor's own copy of the keys, by agent id: nothing from the export is trusted.
  const keys = new Map([[alice.agentId!, createPublicKey(aliceKeys.publicKey)], [bob.agentId!, createPublicKey(bobKeys.publicKey)]]);
  const checks = (data: string, by: string, sig: unknown) => verify(null, Buffer.from(data), keys.get(by)!, Buffer.from(String(sig), 'base64'));
  for (const record of records) {
    t.true(checks(proposalSignedString(record as never), String(record.from), record.sig), `proposal ${String(record.id)}`);
    for (const step of record.steps as Array<Record<string, unknown>>) {
      const rule = PROPOSAL_STEP_RULES[step.type as ProposalStepType];
      t.true(checks(rule.signingString(String(record.id), step[rule.field] as string | null), String(step.by), step.sig), `${String(step.type)} of ${String(record.id)}`);
    }
  }
  const done = records.find((r) => r.id === first)!;
  t.is(done.status, 'completed');
  t.deepEqual((done.steps as Array<{ type: string }>).map((s) => s.type), ['ACCEPT', 'COMPLETE']);
  // A tampered record does not verify.
  t.false(checks(proposalSignedString({ ...done, amount: 1200 } as never), String(done.from), done.sig));

  const missing = await runCli(t, ['export', '--data-dir', `${dir}/nope`]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /no relay data file at .*pass the relay's --data-dir/);
});
