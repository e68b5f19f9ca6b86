/**
 * The package as a user gets it: `npm pack` output installed into a fresh project.
 * Its types check under `tsc --strict --module nodenext` with nothing else installed,
 * installing it warns about no script of ours, and its README links only to files it ships.
 * Needs the npm cache (or the registry) for the package's dependencies.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, tempDir } from './helpers/cli.js';

const exec = promisify(execFile);
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const npm = (args: string[], cwd: string) =>
  exec('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'], { cwd, env: { ...process.env, npm_config_update_notifier: 'false' } });

/** A consumer's program: the README's client usage, with a typed `on` that must refuse a wrong listener. */
const CONSUMER = `import { AgentChatClient, createRelay, type MsgFrame, type ErrorFrame } from 'agentchat';

const client = new AgentChatClient({ server: 'ws://localhost:6667', name: 'typed', wsOptions: { rejectUnauthorized: false } });
client.on('message', (msg: MsgFrame) => console.log(msg.from, msg.content));
client.on('server_error', (frame: ErrorFrame) => console.log(frame.code));
client.on('reconnecting', ({ attempt, delayMs }) => console.log(attempt + delayMs));
// @ts-expect-error: a message listener gets a MsgFrame, not a number
client.on('message', (n: number) => n.toFixed());
await client.connect();
const joined = await client.join('#general');
console.log(joined.agents.length);
const relay = createRelay({ port: 0, log: false });
await relay.listen();
await relay.close();
`;

/** A browser consumer of agentchat/browser: the README's browser usage, under the DOM lib. */
const BROWSER_CONSUMER = `import { AgentChatClient, checkMsgSignature, generateIdentity, identityFileText, type MsgFrame } from 'agentchat/browser';

const identity = generateIdentity('typed-browser');
const text: string = identityFileText(identity);
const client = new AgentChatClient({ server: 'wss://relay.example.com', identity, reconnect: true });
client.on('message', (msg: MsgFrame) => console.log(msg.from, text.length, checkMsgSignature(msg, identity.pubkey).ok));
// @ts-expect-error: the browser client takes an identity object, not a path
new AgentChatClient({ server: 'ws://x', identity: './identity.json' });
await client.connect();
`;

test('the packed package installs without script warnings and its types check in a fresh strict nodenext project', async (t) => {
  t.timeout(120_000);
  const dir = await tempDir(t, 'agentchat-consumer-');
  // dist/ is already built (npm test builds first); --ignore-scripts packs it as it is.
  const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO });
  const [{ filename, files }] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;

  // The packed README links only to files in the package.
  const shipped = new Set(files.map((f) => f.path));
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const local = [...readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((href) => !/^[a-z]+:/i.test(href));
  t.true(local.length > 0, 'README has relative links to check');
  t.deepEqual(local.filter((href) => !shipped.has(href)), [], 'README links to files the package does not ship');
  t.true(shipped.has('LICENSE'));

  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  const installed = await npm(['install', `./${filename}`], dir);
  t.notRegex(installed.stderr, /agentchat@[^\s]* \((prepare|install|postinstall|preinstall)/, installed.stderr);

  await writeFile(join(dir, 'main.ts'), CONSUMER);
  try {
    await exec(process.execPath, [TSC, '--strict', '--module', 'nodenext', '--target', 'es2022', '--noEmit', 'main.ts'], { cwd: dir });
    t.pass();
  } catch (err) {
    t.fail(`tsc in the consumer project failed:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
  }
  t.true(shipped.has('dist/browser.js') && shipped.has('dist/web/app.js') && shipped.has('dist/web/index.html'), 'the browser bundle and the page ship');
  await writeFile(join(dir, 'browser.ts'), BROWSER_CONSUMER);
  try {
    await exec(process.execPath, [TSC, '--strict', '--module', 'nodenext', '--target', 'es2022', '--lib', 'es2022,dom', '--noEmit', 'browser.ts'], { cwd: dir });
    t.pass();
  } catch (err) {
    t.fail(`tsc of an agentchat/browser consumer failed:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
  }
});

test('a fresh npm install leaves package-lock.json as committed (package.json ranges agree with the lock)', async (t) => {
  t.timeout(60_000);
  const dir = await tempDir(t, 'agentchat-lock-');
  await copyFile(join(REPO, 'package.json'), join(dir, 'package.json'));
  await copyFile(join(REPO, 'package-lock.json'), join(dir, 'package-lock.json'));
  await npm(['install', '--package-lock-only', '--ignore-scripts'], dir);
  t.is(await readFile(join(dir, 'package-lock.json'), 'utf8'), await readFile(join(REPO, 'package-lock.json'), 'utf8'));
});
