import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { agentIdFromPem } from '../protocol/index.js';
import { connectClient, runCli, startRelay, tempDir } from './helpers/cli.js';

test('identity --generate writes ~/.agentchat/identity.json (0600) under HOME; --show and --export read it', async (t) => {
  const home = await tempDir(t);
  const env = { HOME: home };
  const generated = await runCli(t, ['identity', '--generate', '--name', 'alice'], { env });
  t.is(generated.code, 0, generated.stderr);
  const path = join(home, '.agentchat', 'identity.json');
  const info = JSON.parse(generated.stdout) as { agent_id: string; pubkey: string; path: string };
  t.is(info.path, path);
  t.is(info.agent_id, agentIdFromPem(info.pubkey));
  t.is((await stat(path)).mode & 0o777, 0o600);

  const shown = await runCli(t, ['identity', '--show'], { env });
  t.like(JSON.parse(shown.stdout), { name: 'alice', agent_id: info.agent_id, path });

  const exported = await runCli(t, ['identity', '--export'], { env });
  const pub = JSON.parse(exported.stdout) as Record<string, string>;
  t.deepEqual(Object.keys(pub).sort(), ['agent_id', 'name', 'pubkey']);
  t.false(exported.stdout.includes('PRIVATE'), 'export never prints the private key');
  t.false(shown.stdout.includes('PRIVATE'));
});

test('identity --generate refuses to overwrite without --force', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'id.json');
  t.is((await runCli(t, ['identity', '--generate', '--file', file, '-n', 'first'])).code, 0);
  const before = await readFile(file, 'utf8');

  const refused = await runCli(t, ['identity', '--generate', '--file', file, '-n', 'second']);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^error: identity file .* already exists \(use --force/);
  t.is(await readFile(file, 'utf8'), before);

  const forced = await runCli(t, ['identity', '--generate', '--file', file, '-n', 'second', '--force']);
  t.is(forced.code, 0);
  t.is((JSON.parse(await readFile(file, 'utf8')) as { name: string }).name, 'second');
});

test('identity errors: missing file exits 1, conflicting modes exit 2', async (t) => {
  const dir = await tempDir(t);
  const missing = await runCli(t, ['identity', '--show', '--file', join(dir, 'none.json')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no identity file at/);
  t.is((await runCli(t, ['identity', '--show', '--export', '--file', join(dir, 'x')])).code, 2);
});

test('send -i signs with the identity: the receiver sees the persistent id and a signature', async (t) => {
  const relay = await startRelay(t);
  const dir = await tempDir(t);
  const file = join(dir, 'id.json');
  const generated = await runCli(t, ['identity', '--generate', '--file', file, '-n', 'signer']);
  const { agent_id } = JSON.parse(generated.stdout) as { agent_id: string };
  const reader = await connectClient(t, relay.url);
  await reader.join('#general');
  const received = new Promise<import('../protocol/index.js').MsgFrame>((resolve) => reader.on('message', (m) => m.content === 'signed' && resolve(m)));
  const sent = await runCli(t, ['send', relay.url, '#general', 'signed', '-i', file]);
  t.is(sent.code, 0, sent.stderr);
  const msg = await received;
  t.is(msg.from, agent_id);
  t.is(typeof msg.sig, 'string');
});

test('every client command uses ~/.agentchat/identity.json when it exists; --ephemeral opts out', async (t) => {
  const relay = await startRelay(t);
  const home = await tempDir(t);
  const env = { HOME: home };
  const created = await runCli(t, ['identity', '--generate', '--name', 'me'], { env });
  const me = (JSON.parse(created.stdout) as { agent_id: string }).agent_id;
  const reader = await connectClient(t, relay.url);
  await reader.join('#general');
  const from: string[] = [];
  reader.on('message', (m) => from.push(m.from));

  t.is((await runCli(t, ['send', relay.url, '#general', 'signed'], { env })).code, 0);
  const ephemeral = await runCli(t, ['send', relay.url, '#general', 'random', '--ephemeral'], { env });
  t.is(ephemeral.code, 0, ephemeral.stderr);
  const created2 = await runCli(t, ['create', relay.url, '#mine', '--private'], { env });
  t.is(created2.code, 0, created2.stderr);
  t.deepEqual((JSON.parse(created2.stdout) as { agents: string[] }).agents, [me]);
  // The same identity, later, is still the channel's member: invite works without -i.
  const invited = await runCli(t, ['invite', relay.url, '#mine', '@abcdef12'], { env });
  t.is(invited.code, 0, invited.stderr);

  await reader.ping();
  t.is(from[0], me);
  t.not(from[1], me);
  t.regex(from[1], /^@[a-z0-9]{8}$/);
});
