/** The built CLI (dist/cli.js) end to end: run `npm run build` first (`npm test` does). */
import test from 'ava';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MsgFrame } from '../protocol/index.js';
import { connectClient, REPO, runCli, spawnCli, startRelay, startServe, tempDir } from './helpers/cli.js';

const isType = (type: string) => (line: string) => line.startsWith('{') && (JSON.parse(line) as { type: string }).type === type;

test('serve prints its real port first; listen prints what send sends; SIGTERM exits 0', async (t) => {
  const serve = await startServe(t);
  t.true(serve.port > 0);

  const listen = spawnCli(t, ['listen', serve.url, '#general', '--max-messages', '2']);
  await listen.line(isType('JOINED'));
  const first = await runCli(t, ['send', serve.url, '#general', 'hello from the cli', '--name', 'sender']);
  t.is(first.code, 0, first.stderr);
  const piped = await runCli(t, ['send', serve.url, '#general', '-'], { input: 'from stdin\n' });
  t.is(piped.code, 0, piped.stderr);

  t.is(await listen.exited, 0, listen.stderr());
  const msgs = listen.lines.map((l) => JSON.parse(l) as MsgFrame).filter((f) => f.type === 'MSG');
  t.deepEqual(msgs.map((m) => m.content), ['hello from the cli', 'from stdin']);
  t.true(listen.lines.every((l) => l.startsWith('{')), 'stdout holds only JSON lines');
  t.regex(listen.stderr(), /listening on #general as @/);

  serve.child.kill('SIGTERM');
  t.is(await serve.exited, 0);
});

test('listen prints replayed history marked replay: true, and --max-messages counts only new messages', async (t) => {
  const relay = await startRelay(t);
  const talker = await connectClient(t, relay.url);
  await talker.join('#general');
  await talker.send('#general', 'before you came');
  // Had the replay counted, --max-messages 1 would end at once; it ends at the timeout instead.
  const { code, stdout } = await runCli(t, ['listen', relay.url, '--max-messages', '1', '--timeout', '0.5']);
  t.is(code, 0);
  const msgs = stdout.split('\n').map((l) => JSON.parse(l) as MsgFrame).filter((f) => f.type === 'MSG');
  t.deepEqual(msgs.map((m) => [m.content, m.replay]), [['before you came', true]]);
});

test('listen --timeout ends cleanly with exit 0; several channels are joined', async (t) => {
  const relay = await startRelay(t);
  const { code, stdout, stderr } = await runCli(t, ['listen', relay.url, '#general', '#agents', '--timeout', '0.3']);
  t.is(code, 0, stderr);
  const joined = stdout.split('\n').map((l) => JSON.parse(l) as { type: string; channel: string }).filter((f) => f.type === 'JOINED');
  t.deepEqual(joined.map((f) => f.channel), ['#general', '#agents']);
});

test('a refused send exits 1 with one stderr line carrying the relay code', async (t) => {
  const relay = await startRelay(t);
  const { code, stdout, stderr } = await runCli(t, ['send', relay.url, '#nope', 'hello']);
  t.is(code, 1);
  t.is(stdout, '');
  t.regex(stderr, /^error: CHANNEL_NOT_FOUND: channel #nope does not exist.*\n$/);
});

test('an unreachable server exits 1 naming it', async (t) => {
  const relay = await startRelay(t);
  const url = relay.url;
  await relay.close();
  const { code, stderr } = await runCli(t, ['channels', url]);
  t.is(code, 1);
  t.regex(stderr, new RegExp(`^error: DISCONNECTED: could not connect to ${url}`));
});

test('usage errors exit 2: missing arguments, unknown flags, bad values, bad URLs', async (t) => {
  const results = await Promise.all([
    runCli(t, ['send', 'ws://127.0.0.1:1']),
    runCli(t, ['channels', 'ws://127.0.0.1:1', '--bogus']),
    runCli(t, ['serve', '--port', 'not-a-port']),
    runCli(t, ['channels', 'localhost:6667']),
    runCli(t, ['frobnicate']),
  ]);
  for (const r of results) t.is(r.code, 2, r.stderr);
  t.regex(results[2].stderr, /--port must be an integer/);
  t.regex(results[3].stderr, /server must be a ws:\/\/ or wss:\/\/ URL/);
});

test('--help works on every command', async (t) => {
  const commands = ['serve', 'send', 'listen', 'channels', 'agents', 'create', 'invite', 'whois', 'connect', 'identity'];
  const results = await Promise.all([runCli(t, ['--help']), ...commands.map((c) => runCli(t, [c, '--help']))]);
  for (const [i, r] of results.entries()) {
    t.is(r.code, 0);
    t.regex(r.stdout, i === 0 ? /Available Commands/ : new RegExp(`\\$ agentchat ${commands[i - 1]}`));
  }
});

test('channels, agents, create, invite and whois print the answers as JSON', async (t) => {
  const relay = await startRelay(t);
  const bob = await connectClient(t, relay.url, { name: 'bob' });
  await bob.join('#general');
  const dir = await tempDir(t);
  const idFile = join(dir, 'id.json');
  t.is((await runCli(t, ['identity', '--generate', '--file', idFile, '--name', 'carol'])).code, 0);

  const [channels, agents, whois, created] = await Promise.all([
    runCli(t, ['channels', relay.url]),
    runCli(t, ['agents', relay.url, '#general']),
    runCli(t, ['whois', relay.url, bob.agentId!]),
    runCli(t, ['create', relay.url, '#carols', '--private', '-i', idFile]),
  ]);
  t.true((JSON.parse(channels.stdout) as Array<{ name: string }>).some((c) => c.name === '#general'));
  t.deepEqual(JSON.parse(agents.stdout), [bob.agentId]);
  t.like(JSON.parse(whois.stdout), { agent: bob.agentId, name: 'bob', pubkey: null });
  t.like(JSON.parse(created.stdout), { channel: '#carols', invite_only: true });

  // The creator (same identity) may invite; bob hears of it and can then join.
  const note = once(bob, 'message') as Promise<[MsgFrame]>;
  const invite = await runCli(t, ['invite', relay.url, '#carols', bob.agentId!, '-i', idFile]);
  t.is(invite.code, 0, invite.stderr);
  t.like(JSON.parse(invite.stdout), { channel: '#carols', agent: bob.agentId, invited: true });
  t.regex((await note)[0].content, /invited to #carols/);
  t.is((await bob.join('#carols')).channel, '#carols');
});

test('serve --plugin appends a plugin after the core ones', async (t) => {
  const dir = await tempDir(t);
  const plugin = join(dir, 'echo-plugin.mjs');
  const superstruct = pathToFileURL(join(REPO, 'node_modules', 'superstruct', 'dist', 'index.mjs')).href;
  await writeFile(plugin, `import { literal, type } from ${JSON.stringify(superstruct)};
export default {
  name: 'shout',
  setup(relay) {
    relay.handle('SHOUT', { schema: type({ type: literal('SHOUT') }), handle(session) { relay.send(session, { type: 'SHOUTED' }); } });
  },
};\n`);
  const serve = await startServe(t, ['--plugin', plugin]);
  const client = await connectClient(t, serve.url);
  const answer = await client.request({ type: 'SHOUT' }, { answer: 'SHOUTED', label: 'SHOUTED' });
  t.is(answer.type, 'SHOUTED');
});
