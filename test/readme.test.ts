/**
 * README.md's shell examples run as written. Every command of every ```sh block is
 * either run here, in README order, or listed in SKIP with the reason; a command
 * that is neither fails the first test, so a new example cannot slip in unproven.
 *
 * The only changes made to a command before bash runs it (see `sh`):
 * `ws://localhost:6667` → a relay this test started on 127.0.0.1, port 0;
 * `npx agentchat` → `node <repo>/dist/cli.js` (one test keeps `npx agentchat` literally);
 * `@1a2b3c4d` (README's "another agent's id") → the id of a helper agent kept online;
 * and HOME is a temp dir, so `~/.agentchat/identity.json` belongs to this test.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CLI, REPO, runCli, runModule, startRelay, startServe, tempDir } from './helpers/cli.js';
import { jsonValues, runSh, shBlocks, shown, spawnSh, substitute, type ShBlock, type ShCommand, type ShOptions, type ShResult } from './helpers/readme.js';
import { connect, expectedAgentId, newKeyPair, type Frame, type RelayClient } from './helpers/relay-client.js';

const README = await readFile(join(REPO, 'README.md'), 'utf8');
const blocks = shBlocks(README);
const commands = blocks.flatMap((b) => b.commands);

/** The only commands not run, exactly as README has them (comments dropped), and why. */
const SKIP: Record<string, string> = {
  'npm install && npm start': 'set-up: installs, builds and serves on the fixed port 6667; CI runs npm install, and every test here starts its own relay on port 0',
  'npm test': 'set-up: runs the whole suite, this file included',
  'npx agentchat serve --web': 'serves until stopped on the fixed port 6667; test/web-page.test.ts runs `serve --port 0 --web` and drives the page in Chromium',
  'npm start -- --plugin ./examples/topic-plugin.mjs --plugin-options \'{"topics":{"maxLength":80}}\'':
    'fixed port 6667; "the topic plugin" test runs the equivalent `node dist/cli.js serve --port 0 --host 127.0.0.1 --plugin ./examples/topic-plugin.mjs --plugin-options …` and uses TOPIC',
  "curl -s localhost:6667/healthz && curl -s -H 'accept: application/json' localhost:6667/":
    'fixed port 6667 (npm start); test/ops-http.test.ts requests /healthz and / with Accept: application/json on a relay it started',
  'npx agentchat export --data-dir ./data > proposals.jsonl':
    'reads a relay\'s data dir, which README\'s relay (npm start) would have made; test/store-export.test.ts runs `export --data-dir` on a relay\'s data and verifies every signature offline',
  'npx agentchat serve --policy "python3 examples/policy.py" --policy-points join,message':
    'fixed port 6667; test/policy.test.ts runs `serve --port 0 --policy "python3 examples/policy.py"` and checks both of its rules',
  'redis-server --port 6379 --appendonly yes &': 'fixed ports 6379, 6667 and 6668; test/cluster.test.ts and test/cluster-failures.test.ts run the same cluster (redis-server, relays with --redis) on free ports',
  'npx agentchat serve --port 6667 --redis redis://127.0.0.1:6379 &': 'fixed port; test/cluster-failures.test.ts runs `serve --redis` on port 0 against its own redis-server',
  'npx agentchat serve --port 6668 --redis redis://127.0.0.1:6379 &': 'fixed port; as above, with a second relay on the same Redis',
  'npx agentchat serve --workers auto --redis redis://127.0.0.1:6379':
    'fixed ports 6667 and 6379; test/workers.test.ts runs `serve --port 0 --workers 2` and `--workers auto` with `--redis` on a Redis it started',
  'npx agentchat serve --admin-key ./operator.json':
    'fixed port 6667; "moderation" below runs the equivalent `serve --port 0 --host 127.0.0.1 --admin-key ./operator.json` and then README\'s admin commands against it',
  'docker build -t agentchat . && docker run -p 6667:6667 agentchat': 'no docker engine here; test/cli-package.test.ts checks the Dockerfile and runs the image\'s files',
  'cd relay && docker compose up -d --build': 'no docker engine or compose plugin here; test/deploy.test.ts checks the generated files and runs their ENTRYPOINT and health check',
  'provider-services tx deployment create deploy.sdl.yaml --deposit 43200000uakt --from my-wallet':
    'needs a funded Akash wallet and the network; "deploy --provider akash" below checks that deploy prints this command for the README seed',
};

/** Command → the test that runs it; filled while tests are declared, before any runs. */
const ran = new Map<ShCommand, string>();

/** The one README command matching `pattern`, claimed as run by test `by`. */
function command(pattern: RegExp, by: string): ShCommand {
  const found = commands.filter((c) => pattern.test(c.text));
  if (found.length !== 1) throw new Error(`${found.length} README sh commands match ${pattern} (expected exactly 1): ${found.map((c) => `line ${c.line}`).join(', ')}`);
  if (ran.has(found[0])) throw new Error(`README line ${found[0].line} is claimed twice`);
  ran.set(found[0], by);
  return found[0];
}

/** The one sh block with a command matching `pattern`, all its commands claimed as run (as one script) by `by`. */
function block(pattern: RegExp, by: string): ShBlock {
  const found = blocks.filter((b) => b.commands.some((c) => pattern.test(c.text)));
  if (found.length !== 1) throw new Error(`${found.length} README sh blocks have a command matching ${pattern} (expected exactly 1)`);
  for (const c of found[0].commands) {
    if (ran.has(c)) throw new Error(`README line ${c.line} is claimed twice`);
    ran.set(c, by);
  }
  return found[0];
}

/** HOME for every command: `~/.agentchat/identity.json` is shared by the identity and private-channel examples. */
let home = '';
test.before(async () => {
  home = await mkdtemp(join(tmpdir(), 'agentchat-readme-home-'));
});
test.after.always(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

interface Sub {
  url?: string;
  /** The live agent standing in for README's `@1a2b3c4d`. */
  other?: string;
  /** Keep `npx agentchat` as written. */
  npx?: boolean;
}

/** A README command (or block) as bash will run it: only the documented substitutions. */
function sh(source: string, sub: Sub): string {
  const map: Record<string, string> = {};
  if (sub.url !== undefined) map['ws://localhost:6667'] = sub.url;
  if (!sub.npx) map['npx agentchat'] = `node '${CLI}'`;
  if (sub.other !== undefined) map['@1a2b3c4d'] = sub.other;
  return substitute(source, map);
}

function shOptions(cwd: string, extra: Partial<ShOptions> = {}): ShOptions {
  return { cwd, ...extra, env: { HOME: home, npm_config_update_notifier: 'false', ...extra.env } };
}

/** Run, expect exit `code` (0 unless README says the command fails), return the run. */
async function expectExit(t: ExecutionContext, script: string, options: ShOptions, code = 0): Promise<ShResult> {
  const run = await runSh(t, script, options);
  t.is(run.code, code, shown(run));
  return run;
}

/** The single JSON value a command printed. */
function json(t: ExecutionContext, run: ShResult): Record<string, unknown> {
  const values = jsonValues(run.stdout);
  t.is(values.length, 1, shown(run));
  return values[0] as Record<string, unknown>;
}

/** A raw client identified on the relay and joined to #general; closed at teardown. */
async function agent(t: ExecutionContext, port: number, name: string, withKey = false): Promise<RelayClient> {
  const client = await connect(t, port, 8000);
  await client.identify(name, withKey ? newKeyPair() : undefined);
  await client.join('#general');
  return client;
}

const msgs = (client: RelayClient, test: (f: Frame) => boolean = () => true) => client.received.filter((f) => f.type === 'MSG' && test(f));

// ---- README order ---------------------------------------------------------------------

const LISTEN = command(/^npx agentchat listen \S+ '#general' --max-messages 10\b/, 'listen --max-messages 10');
const SEND = command(/^npx agentchat send \S+ '#general' 'hello from my agent'$/, 'send to #general');
const SEND_STDIN = command(/^echo .* \| npx agentchat send \S+ '#general' -$/, 'send - from stdin');
const IDENTITY = [
  command(/^npx agentchat identity --generate --name my-agent$/, 'identity'),
  command(/^npx agentchat identity --show$/, 'identity'),
  command(/^npx agentchat identity --export$/, 'identity'),
];
const PRIVATE = {
  create: command(/^npx agentchat create \S+ '#design' --private -i ~\/\.agentchat\/identity\.json$/, 'private channels'),
  invite: command(/^npx agentchat invite \S+ '#design' @1a2b3c4d -i ~\/\.agentchat\/identity\.json$/, 'private channels'),
  dm: command(/^npx agentchat send \S+ @1a2b3c4d 'a direct message'$/, 'private channels'),
  channels: command(/^npx agentchat channels \S+$/, 'private channels'),
  agents: command(/^npx agentchat agents \S+ '#general'$/, 'private channels'),
  whois: command(/^npx agentchat whois \S+ @1a2b3c4d$/, 'private channels'),
};
const PROPOSALS = block(/\bnpx agentchat propose /, 'proposal flow');
const CONNECT = command(/^npx agentchat connect \S+ --join '#general,#agents'$/, 'connect');
const MCP_CONVERSATION = block(/\bnpx agentchat mcp /, 'two agents through MCP');
const REPLY_LOOP = command(/^npx agentchat listen .* \| while read -r line; do sleep 2; npx agentchat send .*; done$/, 'reply loop');

test.serial('every command in the sh blocks of README.md is run here or skipped with a reason', (t) => {
  const unaccounted = commands.filter((c) => !ran.has(c) && !(c.text in SKIP));
  t.deepEqual(unaccounted.map((c) => `line ${c.line}: ${c.text}`), [], 'run these in test/readme.test.ts, or add them to SKIP with the reason');
  const missing = Object.keys(SKIP).filter((text) => !commands.some((c) => c.text === text));
  t.deepEqual(missing, [], 'SKIP lists commands README no longer has');
  t.true(blocks.length >= 9, `only ${blocks.length} sh blocks found: is the parser still reading README.md?`);
});

test.serial('listen --max-messages 10: JOINED first, then exits 0 after 10 MSG lines of JSON', async (t) => {
  const relay = await startRelay(t);
  const helper = await agent(t, relay.port, 'talker');
  const listener = spawnSh(t, sh(LISTEN.source, { url: relay.url }), shOptions(await tempDir(t)));
  const first = await listener.line();
  t.like(JSON.parse(first), { type: 'JOINED', channel: '#general' });

  for (let i = 1; i <= 10; i++) helper.send({ type: 'MSG', to: '#general', content: `message ${i}` });
  const run = await listener.result;
  t.is(run.code, 0, shown(run));
  const frames = run.stdout.split('\n').map((line) => JSON.parse(line) as Frame);
  const printed = frames.filter((f) => f.type === 'MSG');
  t.deepEqual(printed.map((f) => f.content), Array.from({ length: 10 }, (_, i) => `message ${i + 1}`), shown(run));
  t.true(printed.every((f) => f.from === helper.agentId));
});

test.serial("send to '#general' exits 0 once the relay accepted it; a member receives it", async (t) => {
  const relay = await startRelay(t);
  const helper = await agent(t, relay.port, 'reader');
  await expectExit(t, sh(SEND.source, { url: relay.url }), shOptions(await tempDir(t)));
  t.like(await helper.next('MSG'), { to: '#general', content: 'hello from my agent' });
});

test.serial('`npx agentchat` in the repo is this project\'s CLI: the send line run literally', async (t) => {
  const relay = await startRelay(t);
  const helper = await agent(t, relay.port, 'reader');
  const script = sh(SEND.source, { url: relay.url, npx: true });
  t.true(script.startsWith('npx agentchat send '));
  await expectExit(t, script, shOptions(REPO));
  t.like(await helper.next('MSG'), { to: '#general', content: 'hello from my agent' });
});

test.serial('send - reads the message from stdin (echo … | send … -)', async (t) => {
  const relay = await startRelay(t);
  const helper = await agent(t, relay.port, 'reader');
  await expectExit(t, sh(SEND_STDIN.source, { url: relay.url }), shOptions(await tempDir(t)));
  // echo's trailing newline is not part of the message.
  t.like(await helper.next('MSG'), { to: '#general', content: 'a longer report' });
});

test.serial('identity: generate writes ~/.agentchat/identity.json (0600) and refuses to overwrite; show and export print it', async (t) => {
  const cwd = await tempDir(t);
  const [generate, show, exportLine] = IDENTITY;
  const path = join(home, '.agentchat', 'identity.json');

  const created = json(t, await expectExit(t, sh(generate.source, {}), shOptions(cwd)));
  t.like(created, { name: 'my-agent', path });
  t.is((await stat(path)).mode & 0o777, 0o600);
  const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
  t.deepEqual(Object.keys(file).sort(), ['created', 'name', 'privkey', 'pubkey']);
  t.is(created.agent_id, expectedAgentId(file.pubkey));

  const again = await expectExit(t, sh(generate.source, {}), shOptions(cwd), 1);
  t.regex(again.stderr, /--force/, shown(again));
  t.is(JSON.parse(await readFile(path, 'utf8')).pubkey, file.pubkey, 'the refused generate left the file alone');

  t.like(json(t, await expectExit(t, sh(show.source, {}), shOptions(cwd))), { name: 'my-agent', agent_id: created.agent_id, path });
  const exported = json(t, await expectExit(t, sh(exportLine.source, {}), shOptions(cwd)));
  t.deepEqual(exported, { name: 'my-agent', pubkey: file.pubkey, agent_id: created.agent_id });
});

test.serial('private channels and DMs: create, invite, DM, channels, agents, whois with a live agent as @1a2b3c4d', async (t) => {
  const relay = await startRelay(t);
  const cwd = await tempDir(t);
  const other = await agent(t, relay.port, 'other-agent', true);
  const sub = { url: relay.url, other: other.agentId };
  const me = expectedAgentId((JSON.parse(await readFile(join(home, '.agentchat', 'identity.json'), 'utf8')) as { pubkey: string }).pubkey);

  t.deepEqual(json(t, await expectExit(t, sh(PRIVATE.create.source, sub), shOptions(cwd))), { channel: '#design', invite_only: true, agents: [me] });

  t.deepEqual(json(t, await expectExit(t, sh(PRIVATE.invite.source, sub), shOptions(cwd))), { channel: '#design', agent: other.agentId, invited: true });
  t.like(await other.next('MSG', (f) => f.to === other.agentId), { from: me, content: 'You have been invited to #design' });
  await other.join('#design'); // the invitation works

  await expectExit(t, sh(PRIVATE.dm.source, sub), shOptions(cwd));
  t.like(await other.next('MSG', (f) => f.to === other.agentId), { content: 'a direct message' });

  const channels = json(t, await expectExit(t, sh(PRIVATE.channels.source, sub), shOptions(cwd))) as unknown as Array<{ name: string }>;
  const names = channels.map((c) => c.name);
  t.true(names.includes('#general') && !names.includes('#design'), `public channels only: ${names.join(' ')}`);

  const agents = json(t, await expectExit(t, sh(PRIVATE.agents.source, sub), shOptions(cwd))) as unknown as string[];
  t.true(agents.includes(other.agentId), `agents in #general: ${agents.join(' ')}`);

  t.like(json(t, await expectExit(t, sh(PRIVATE.whois.source, sub), shOptions(cwd))), { agent: other.agentId, name: 'other-agent', verified: true });
});

test.serial('the proposal flow runs as one script and ends with the completed proposal listed', async (t) => {
  t.timeout(30_000);
  const relay = await startRelay(t);
  const cwd = await tempDir(t);
  // -e and pipefail: a failing step stops the script with its code instead of being masked by the next line.
  // TMPDIR: the block's `mktemp -d` lands in this test's dir, where the assertions find bob.log.
  const run = await expectExit(t, sh(PROPOSALS.source, { url: relay.url }), shOptions(cwd, { bashOptions: ['-e', '-o', 'pipefail'], env: { TMPDIR: cwd } }));
  const values = jsonValues(run.stdout) as Array<Record<string, unknown>>;
  t.is(values.length, 5, `identity ×2, accept, complete, proposals\n${shown(run)}`);
  const [alice, bob, accepted, completed, listed] = values;
  t.like(accepted, { status: 'accepted', by: bob.agent_id, payment_code: 'bob-wallet' });
  const id = accepted.proposal_id;
  t.like(completed, { proposal_id: id, status: 'completed', proof: 'https://example.org/summary' });
  const list = listed.list as Array<Record<string, unknown>>;
  t.is(list.length, 1, shown(run));
  t.like(list[0], { id, from: alice.agent_id, to: bob.agent_id, task: 'summarize #general', amount: 5, currency: 'USD', status: 'completed' });

  // Bob's listener printed the PROPOSAL while he was online.
  const demo = await readdir(cwd);
  t.is(demo.length, 1, `one mktemp dir: ${demo.join(' ')}`);
  t.deepEqual((await readdir(join(cwd, demo[0]))).sort(), ['alice.json', 'bob.json', 'bob.log'], 'the keys went to the temp dir, nothing else was written');
  const bobLog = (await readFile(join(cwd, demo[0], 'bob.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Frame);
  t.like(bobLog.find((f) => f.type === 'PROPOSAL'), { id, from: alice.agent_id, to: bob.agent_id, status: 'pending' });
});

test.serial("connect with stdin '/quit' joins both channels and exits 0", async (t) => {
  const relay = await startRelay(t);
  const run = await expectExit(t, sh(CONNECT.source, { url: relay.url }), shOptions(await tempDir(t), { input: '/quit\n' }));
  t.regex(run.stdout, /^\* joined #general\b/m, shown(run));
  t.regex(run.stdout, /^\* joined #agents\b/m, shown(run));
});

test.serial("two agents through MCP: each session sends to #general and reads the other's message, then exits", async (t) => {
  t.timeout(40_000);
  const relay = await startRelay(t);
  const cwd = await tempDir(t);
  const run = await expectExit(t, sh(MCP_CONVERSATION.source, { url: relay.url }), shOptions(cwd, { bashOptions: ['-e', '-o', 'pipefail'] }));
  t.regex(run.stdout, /^alice\.out:"content":"hello from bob"$/m, shown(run));
  t.regex(run.stdout, /^bob\.out:"content":"hello from alice"$/m, shown(run));
  // Every answer came back, as JSON-RPC on stdout and nothing else: initialize, send, read.
  const answers = (await readFile(join(cwd, 'alice.out'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { id: number; result: Record<string, unknown> });
  t.deepEqual(answers.map((a) => a.id).sort(), [1, 2, 3]);
  t.like(answers.find((a) => a.id === 2)?.result, { structuredContent: { sent: true, signed: true } });
  t.regex(run.stderr, /agentchat mcp: closed/, shown(run));
});

test.serial('the reply loop answers a live message once, not history nor itself, and ends by itself', async (t) => {
  t.timeout(40_000);
  const relay = await startRelay(t);
  // History first: the listener prints it (not counted toward --max-messages) but must not answer it.
  const earlier = await agent(t, relay.port, 'earlier');
  for (let i = 1; i <= 3; i++) {
    earlier.send({ type: 'MSG', to: '#general', content: `earlier ${i}` });
    await earlier.next('MSG', (f) => f.content === `earlier ${i}`);
  }
  await earlier.close();
  const helper = await agent(t, relay.port, 'asker');

  const loop = spawnSh(t, sh(REPLY_LOOP.source, { url: relay.url }), shOptions(await tempDir(t)));
  // The listener joined (it is the first agent to arrive after the helper): now a live message.
  await helper.next('AGENT_JOINED', (f) => f.channel === '#general' && f.agent !== helper.agentId, 15_000);
  helper.send({ type: 'MSG', to: '#general', content: 'anyone there?' });
  const reply = await helper.next('MSG', (f) => f.content === 'got it', 15_000);
  t.not(reply.from, helper.agentId);

  // 1 live + its own 'got it' = 2 new MSGs: the listener stops, the pipeline drains and ends.
  const run = await loop.result;
  t.is(run.code, 0, shown(run));
  await helper.ping(); // every frame the relay sent before PONG has arrived
  t.is(msgs(helper, (f) => f.content === 'got it').length, 1, 'one reply: not to history, not to itself');
});

test.serial('the topic plugin (README: npm start -- --plugin ./examples/topic-plugin.mjs) works under serve --port 0', async (t) => {
  const serve = await startServe(t, ['--plugin', './examples/topic-plugin.mjs', '--plugin-options', '{"topics":{"maxLength":80}}'], { cwd: REPO });
  const setter = await agent(t, serve.port, 'setter');
  const member = await agent(t, serve.port, 'member');
  setter.send({ type: 'TOPIC', channel: '#general', topic: 'release planning' });
  t.like(await member.next('TOPIC'), { channel: '#general', topic: 'release planning', by: setter.agentId });

  const joiner = await connect(t, serve.port);
  await joiner.identify('joiner');
  const joined = await joiner.join('#general');
  const topic = await joiner.next('TOPIC');
  t.like(topic, { channel: '#general', topic: 'release planning' });
  t.true(joiner.received.indexOf(joined) < joiner.received.indexOf(topic), 'the topic comes after JOINED');
  setter.send({ type: 'TOPIC', channel: '#general', topic: 'x'.repeat(81) });
  t.like(await setter.next('ERROR'), { code: 'TOPIC_TOO_LONG', max: 80, ref: 'TOPIC' }, 'the option from the command line holds');
  const outsider = await connect(t, serve.port);
  await outsider.identify('outsider');
  outsider.send({ type: 'TOPIC', channel: '#general', topic: 'mine' });
  t.like(await outsider.next('ERROR'), { code: 'NOT_A_MEMBER', ref: 'TOPIC' });
  t.is(serve.child.exitCode, null, serve.stderr());
});

test('README shows examples/topic-plugin.mjs exactly as the file is', async (t) => {
  const file = await readFile(join(REPO, 'examples', 'topic-plugin.mjs'), 'utf8');
  t.true(README.includes('```js\n' + file + '```'), 'the README plugin block and the example file have drifted apart');
});

test('README "Running a relay from code" runs as written: it listens on a free port, prints its URL and closes', async (t) => {
  const start = README.indexOf('### Running a relay from code');
  const code = /```js\n([\s\S]*?)```/.exec(README.slice(start))?.[1];
  if (code === undefined) throw new Error('no js block under "Running a relay from code"');
  // Inside the repo, so `import … from 'agentchat'` resolves to this package.
  const file = join(REPO, `.readme-relay-${process.pid}.mjs`);
  await writeFile(file, code);
  t.teardown(() => rm(file, { force: true }));
  const run = await runCli(t, [], { script: file });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /^my-plugin level 2\nws:\/\/127\.0\.0\.1:\d+$/);
  t.is(run.stderr, '', 'log: false keeps stderr quiet');
});

const OPERATOR = command(/^npx agentchat identity --generate --name operator --file \.\/operator\.json$/, 'moderation');
const ADMIN = block(/^npx agentchat admin ban \S+ @1a2b3c4d /, 'moderation');

test.serial('moderation: the operator identity, serve --admin-key, then ban, bans, unban, mute and kick as README has them', async (t) => {
  t.timeout(60_000);
  const cwd = await tempDir(t);
  await expectExit(t, sh(OPERATOR.source, {}), shOptions(cwd));
  const serve = await startServe(t, ['--admin-key', './operator.json'], { cwd, env: { HOME: home } });
  const target = await agent(t, serve.port, 'target', true);
  const run = await expectExit(t, sh(ADMIN.source, { url: serve.url, other: target.agentId }), shOptions(cwd, { bashOptions: ['-e', '-o', 'pipefail'] }));
  const [ban, banRange, bans, unban, mute, kick] = jsonValues(run.stdout) as Array<Record<string, unknown>>;
  t.like(ban, { action: 'ban', kind: 'agent', target: target.agentId, sessions: 1, reason: 'spam' });
  t.like(banRange, { action: 'ban', kind: 'address', target: '203.0.113.0/24', reason: 'botnet' });
  t.deepEqual((bans as unknown as Array<Record<string, unknown>>).map((r) => [r.kind, r.value]), [['address', '203.0.113.0/24'], ['agent', target.agentId]]);
  t.like(unban, { action: 'unban', target: target.agentId });
  t.like(mute, { action: 'mute', target: target.agentId, sessions: 0 });
  t.like(kick, { action: 'kick', sessions: 0, reason: 'cool off' });
  t.is((await target.closed).code, 4003, 'the ban closed the live agent');
});

const DEPLOY_DOCKER = command(/^npx agentchat deploy --provider docker --redis --out \.\/relay$/, 'deploy --provider docker');
const DEPLOY_AKASH = command(/^npx agentchat deploy --provider akash --config deploy\.yaml$/, 'deploy --provider akash');

test.serial('deploy --provider docker --redis writes a Dockerfile and a compose file with relay and redis into ./relay', async (t) => {
  const cwd = await tempDir(t);
  const run = await expectExit(t, sh(DEPLOY_DOCKER.source, {}), shOptions(cwd));
  t.true((await stat(join(cwd, 'relay', 'Dockerfile'))).isFile(), shown(run));
  const compose = parseYaml(await readFile(join(cwd, 'relay', 'docker-compose.yml'), 'utf8')) as { services: Record<string, unknown> };
  t.deepEqual(Object.keys(compose.services), ['relay', 'redis']);
});

test.serial("deploy --provider akash turns README's seed into deploy.sdl.yaml and prints README's hand-off command", async (t) => {
  const seeds = [...README.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]).filter((body) => /^image: /m.test(body));
  t.is(seeds.length, 1, 'one yaml block in README is the deploy.yaml seed');
  const cwd = await tempDir(t);
  await writeFile(join(cwd, 'deploy.yaml'), seeds[0]);
  const run = await expectExit(t, sh(DEPLOY_AKASH.source, {}), shOptions(cwd));
  const sdl = parseYaml(await readFile(join(cwd, 'deploy.sdl.yaml'), 'utf8')) as Record<string, unknown>;
  t.deepEqual(Object.keys(sdl), ['version', 'services', 'profiles', 'deployment']);
  const handOff = commands.find((c) => c.text.startsWith('provider-services '));
  t.truthy(handOff);
  t.true(run.stderr.includes(handOff!.text.replace('my-wallet', '<wallet>')), shown(run));
});

/** The ```js block under "## Client library". */
function clientExample(): string {
  const section = README.slice(README.indexOf('## Client library'));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (match === null) throw new Error('no js block under "## Client library"');
  return match[1];
}

test.serial('the client library example prints the replayed history, then its own live message', async (t) => {
  const relay = await startRelay(t);
  const earlier = await agent(t, relay.port, 'earlier');
  earlier.send({ type: 'MSG', to: '#general', content: 'said before you came' });
  await earlier.next('MSG', (f) => f.content === 'said before you came');
  // Run as written but for the relay URL, importing 'agentchat' as a user would (the repo's own package).
  const script = substitute(clientExample(), { 'ws://localhost:6667': relay.url });
  const { code, stdout: out, stderr: err } = await runModule(t, script);
  t.is(code, 0, err);
  const lines = out.trimEnd().split('\n');
  t.is(lines[0], `history ${earlier.agentId} said before you came`, out);
  t.regex(lines[1], /^live @\w{8} hello$/, out);
  t.true(lines[2].split(' ').includes('#general'), out);
});

const PRINT_CONFIG = command(/^npx agentchat serve --config examples\/agentchat\.yaml --print-config$/, 'print-config');

test('README "Configuration" shows examples/agentchat.yaml as the file is, and serve --print-config takes it as written', async (t) => {
  const file = await readFile(join(REPO, 'examples', 'agentchat.yaml'), 'utf8');
  t.true(README.includes('```yaml\n' + file + '```'), 'the README config block and the example file have drifted apart');
  const printed = json(t, await expectExit(t, sh(PRINT_CONFIG.source, {}), shOptions(REPO)));
  t.like(printed, {
    serverName: 'relay.example.org', publicUrls: ['wss://relay.example.org'], dataDir: './data', idleTimeoutSec: 120,
    pluginOptions: { limits: { maxConnsPerIp: 32, trustProxy: ['10.0.0.0/8'] }, history: { size: 20, keep: 1000 } },
  });
});
