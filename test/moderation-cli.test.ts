/**
 * The moderation CLI end to end: `agentchat serve --admin-key FILE`, then `agentchat admin
 * kick|ban|unban|mute|unmute|bans` with that identity act on live agents and print JSON;
 * another identity is refused (exit 1, one line), bad arguments are usage errors (exit 2).
 */
import test, { type ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateIdentity, publicIdentity, saveIdentity, type LoadedIdentity } from '../client/index.js';
import { runCli, startServe, tempDir } from './helpers/cli.js';
import { connectAs, expectRefused, type RelayClient } from './helpers/relay-client.js';
import type { KeyPairPem } from '../protocol/keys.js';

interface Operator {
  file: string;
  identity: LoadedIdentity;
}

async function identityFile(t: ExecutionContext, name: string): Promise<Operator> {
  const dir = await tempDir(t);
  const identity = generateIdentity(name);
  const file = join(dir, `${name}.json`);
  await saveIdentity(identity, file);
  return { file, identity };
}

const keysOf = (identity: LoadedIdentity): KeyPairPem => ({ publicKey: identity.pubkey, privateKey: identity.privkey });

/** Run `agentchat admin …` and parse its JSON output. */
async function admin(t: ExecutionContext, args: string[]): Promise<{ code: number | null; json: unknown; stderr: string }> {
  const run = await runCli(t, ['admin', ...args]);
  let json: unknown;
  try {
    json = JSON.parse(run.stdout);
  } catch {
    json = undefined;
  }
  return { code: run.code, json, stderr: run.stderr };
}

/** A serve process with one admin key (per-address limits off: every client here is 127.0.0.1). */
async function serveWithAdmin(t: ExecutionContext) {
  const operator = await identityFile(t, 'operator');
  const serve = await startServe(t, ['--admin-key', operator.file, '--max-conns-per-ip', '0', '--conn-rate-per-ip', '0', '--max-sessions-per-ip', '0']);
  return { serve, operator };
}

test('admin ban, bans and unban against serve: the agent is closed, listed, refused, then let back', async (t) => {
  const { serve, operator } = await serveWithAdmin(t);
  const agent = await identityFile(t, 'agent');
  const live: RelayClient = await connectAs(t, serve.port, 'agent', keysOf(agent.identity));

  const ban = await admin(t, ['ban', serve.url, live.agentId, '-i', operator.file, '--reason', 'spam', '--for', '2h']);
  t.is(ban.code, 0, ban.stderr);
  const done = ban.json as Record<string, unknown>;
  t.like(done, { action: 'ban', kind: 'agent', target: live.agentId, sessions: 1, reason: 'spam' });
  const hours = (Date.parse(String(done.expires)) - Date.now()) / 3_600_000;
  t.true(hours > 1.9 && hours <= 2, String(done.expires));
  t.like(await live.next('BANNED'), { reason: 'spam' });
  t.is((await live.closed).code, 4003);

  const bans = await admin(t, ['bans', serve.url, '-i', operator.file]);
  t.is(bans.code, 0, bans.stderr);
  t.like(bans.json, [{ action: 'ban', kind: 'agent', value: live.agentId, reason: 'spam', by: operator.identity.agentId, expires: done.expires }]);
  await t.throwsAsync(connectAs(t, serve.port, 'agent', keysOf(agent.identity)), { message: /BANNED/ });

  const unban = await admin(t, ['unban', serve.url, live.agentId, '-i', operator.file]);
  t.is(unban.code, 0, unban.stderr);
  t.like(unban.json, { action: 'unban', kind: 'agent', target: live.agentId });
  t.deepEqual((await admin(t, ['bans', serve.url, '-i', operator.file])).json, []);
  await connectAs(t, serve.port, 'agent', keysOf(agent.identity));
  const again = await admin(t, ['unban', serve.url, live.agentId, '-i', operator.file]);
  t.is(again.code, 1);
  t.regex(again.stderr, /^error: RULE_NOT_FOUND: there is no ban on agent @\w+; agentchat admin bans lists them\n$/);
});

test('admin kick closes the agent with 4002; admin mute and unmute by key file refuse and allow its MSGs', async (t) => {
  const { serve, operator } = await serveWithAdmin(t);
  const agent = await identityFile(t, 'agent');
  const kickedKeys = await identityFile(t, 'kicked');
  const kicked = await connectAs(t, serve.port, 'kicked', keysOf(kickedKeys.identity));
  const kick = await admin(t, ['kick', serve.url, kicked.agentId, '--by-key', '-i', operator.file, '--reason', 'cool off']);
  t.is(kick.code, 0, kick.stderr);
  t.like(kick.json, { action: 'kick', kind: 'key', target: kicked.agentId, sessions: 1, reason: 'cool off', expires: null });
  t.is((await kicked.closed).code, 4002);

  const loud = await connectAs(t, serve.port, 'loud', keysOf(agent.identity));
  await loud.join('#general');
  // The key as `identity --export` prints it: a JSON file with its pubkey.
  const exported = join(await tempDir(t), 'loud.pub.json');
  await writeFile(exported, JSON.stringify(publicIdentity(agent.identity)));
  const mute = await admin(t, ['mute', serve.url, exported, '-i', operator.file]);
  t.is(mute.code, 0, mute.stderr);
  t.like(mute.json, { action: 'mute', kind: 'key', target: agent.identity.agentId, sessions: 1 });
  await loud.next('MUTED');
  loud.send({ type: 'MSG', to: '#general', content: 'x' });
  await expectRefused(t, loud, 'MUTED', 'MSG');
  const listed = (await admin(t, ['bans', serve.url, '-i', operator.file])).json as Array<Record<string, unknown>>;
  t.like(listed, [{ action: 'mute', kind: 'key', agent_id: agent.identity.agentId, value: agent.identity.pubkey }]);

  t.is((await admin(t, ['unmute', serve.url, agent.file, '-i', operator.file])).code, 0, 'an identity file names its key too');
  await loud.next('UNMUTED');
  loud.send({ type: 'MSG', to: '#general', content: 'y' });
  await loud.next('MSG', (f) => f.content === 'y');
});

test('admin from an identity that is not an admin key exits 1 with the relay\'s NOT_ADMIN on one line', async (t) => {
  const { serve } = await serveWithAdmin(t);
  const stranger = await identityFile(t, 'stranger');
  const run = await admin(t, ['ban', serve.url, '10.0.0.0/8', '-i', stranger.file]);
  t.is(run.code, 1);
  t.regex(run.stderr, /^error: NOT_ADMIN: ADMIN needs a session that proved one of this relay's admin keys[^\n]*\n$/);
  t.is(run.json, undefined);
});

test('admin usage errors exit 2 before connecting: no identity, a bad duration, a target that is none of the three', async (t) => {
  const operator = await identityFile(t, 'operator');
  // Port 9 on loopback has no relay: a usage error must come before any connection attempt.
  const url = 'ws://127.0.0.1:9';
  const cases: Array<[string[], RegExp]> = [
    [['ban', url, '@abcdefgh'], /admin commands sign with an admin key: pass -i/],
    [['ban', url, '@abcdefgh', '-i', operator.file, '--for', 'soon'], /--for must be a duration like 90s, 30m, 12h or 7d/],
    [['ban', url, 'example.org', '-i', operator.file], /<target> must be an @agent id, a key/],
    [['mute', url, '@ab', '-i', operator.file], /is not an agent id/],
    [['unknown', url], /unknown admin action "unknown"/],
    [['ban', url, '10.0.0.0/8', '--by-key', '-i', operator.file], /--by-key goes with an @agent target/],
    [['kick', url, '@abcdefgh', '--for', '1h', '-i', operator.file], /Unknown option --for/],
  ];
  for (const [args, message] of cases) {
    const run = await admin(t, args);
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr, message);
    t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});

test('serve --admin-key with something that is not a key is a one-line usage error', async (t) => {
  const dir = await tempDir(t);
  const notKey = join(dir, 'notes.txt');
  await writeFile(notKey, 'hello');
  for (const [value, message] of [[notKey, /--admin-key .*notes\.txt: /], [join(dir, 'missing.pem'), /no such file, and not a PEM key/]] as const) {
    const run = await runCli(t, ['serve', '--port', '0', '--memory', '--admin-key', value]);
    t.is(run.code, 2, run.stderr);
    t.regex(run.stderr, message);
    t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});

test('serve --verified-only-dms and --min-key-age turn the gates on', async (t) => {
  const serve = await startServe(t, ['--verified-only-dms', '--min-key-age', '3600']);
  const anon = await connectAs(t, serve.port, 'anon');
  const other = await connectAs(t, serve.port, 'other');
  anon.send({ type: 'MSG', to: other.agentId, content: 'hi' });
  await expectRefused(t, anon, 'VERIFICATION_REQUIRED', 'MSG');
  const fresh = await identityFile(t, 'fresh');
  const keyed = await connectAs(t, serve.port, 'fresh', keysOf(fresh.identity));
  await keyed.join('#general');
  keyed.send({ type: 'MSG', to: '#general', content: 'hello' });
  await expectRefused(t, keyed, 'KEY_TOO_NEW', 'MSG');
});
