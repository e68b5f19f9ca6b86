/**
 * The plugin contract through the CLI: a plugin outside plugins/ (test/fixtures/
 * gatekeeper-plugin.mjs) loaded with --plugin, configured with --plugin-options,
 * alongside --no-plugin; the same relay a hoster would run.
 */
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { RelayClient } from './helpers/relay-client.js';
import { runCli, startServe, tempDir } from './helpers/cli.js';

const PLUGIN = 'test/fixtures/gatekeeper-plugin.mjs';
const OPTIONS = JSON.stringify({ gatekeeper: { token: 'hunter2', identifyDelayMs: 200, forbidPrefix: '#ads' } });

/** A raw client that sends the bearer token at the upgrade. */
async function open(t: Parameters<typeof startServe>[0], port: number, token = 'hunter2'): Promise<RelayClient> {
  const client = new RelayClient(new WebSocket(`ws://127.0.0.1:${port}`, { headers: { authorization: `Bearer ${token}` } }), 5_000);
  t.teardown(() => client.terminate());
  await client.opened;
  return client;
}

test('a plugin loaded with --plugin and --plugin-options gates the upgrade, delays IDENTIFY in order, and refuses channel names', async (t) => {
  const serve = await startServe(t, ['--plugin', PLUGIN, '--plugin-options', OPTIONS]);

  // Upgrade without the token: HTTP 401, no socket.
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${serve.port}`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => reject(new Error('upgrade without a token was accepted')));
    ws.on('error', () => {});
  });
  t.is(status, 401);

  // IDENTIFY, JOIN and MSG back to back: the delayed IDENTIFY holds the other two, which then run in order.
  const alice = await open(t, serve.port);
  alice.send({ type: 'IDENTIFY', name: 'alice' });
  alice.send({ type: 'JOIN', channel: '#general' });
  alice.send({ type: 'MSG', to: '#general', content: 'right after identify' });
  t.is((await alice.next('MSG')).content, 'right after identify');
  t.deepEqual(alice.received.map((f) => f.type), ['WELCOME', 'JOINED', 'MSG']);

  alice.send({ type: 'CREATE_CHANNEL', channel: '#ads-daily' });
  const refused = await alice.next('ERROR');
  t.like(refused, { code: 'CHANNEL_NAME_REFUSED', ref: 'CREATE_CHANNEL' });
  t.regex(String(refused.message), /starting with #ads/, 'the option from the command line is in force');
  alice.send({ type: 'CREATE_CHANNEL', channel: '#casino' });
  t.is((await alice.next('JOINED', (f) => f.channel === '#casino')).channel, '#casino', 'the default prefix was replaced by the option');

  const intruder = await open(t, serve.port);
  intruder.send({ type: 'IDENTIFY', name: 'intruder' });
  t.like(await intruder.next('ERROR'), { code: 'NOT_ALLOWED', ref: 'IDENTIFY' });
});

test('the start log names every plugin loaded, and --no-plugin leaves a core plugin out', async (t) => {
  const serve = await startServe(t, ['--plugin', PLUGIN, '--no-plugin', 'history', '--plugin-options', OPTIONS]);
  const alice = await open(t, serve.port);
  await alice.identify('alice');
  const start = serve.stderr().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { event: string; plugins?: string[] })
    .find((line) => line.event === 'start');
  t.deepEqual(start?.plugins, ['limits', 'logging', 'identity', 'moderation', 'channels', 'listing', 'proposals', 'health', 'metrics', 'gatekeeper']);
});

test('bad --plugin-options and --no-plugin values are usage errors (exit 2) with one clear line', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--plugin-options', '{nope'], /--plugin-options must be JSON/],
    [['--plugin-options', '[1]'], /must be a JSON object keyed by plugin name/],
    [['--plugin-options', '{"history": 5}'], /the options of "history" must be a JSON object/],
    [['--no-plugin', 'kernel'], /--no-plugin kernel: there is no such core plugin/],
    [['--policy-points', 'join'], /need --policy/],
    [['--policy', 'true', '--policy-points', 'join,everything'], /unknown point "everything"/],
    [['--policy', 'true', '--plugin-options', '{"policy":{"points":["nowhere"]}}'], /--plugin-options: policy\.points\.0 unknown point "nowhere"/],
    [['--plugin-options', '{"history":{"size":-1}}'], /--plugin-options: history\.size must be a non-negative integer, got -1/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', ...args]);
    t.is(code, 2, `${args.join(' ')}: ${stderr}`);
    t.regex(stderr, message);
    t.is(stderr.trim().split('\n').length, 1, stderr);
  }
});

test('a plugin whose setup fails stops serve with exit 1 and a line naming the plugin', async (t) => {
  const dir = await tempDir(t);
  const plugin = join(dir, 'broken.mjs');
  await writeFile(plugin, "export default { name: 'broken', setup() { throw new Error('no licence key') } };\n");
  const { code, stderr } = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--memory', '--plugin', plugin]);
  t.is(code, 1);
  t.regex(stderr, /plugin "broken" failed to set up: no licence key/);
});
