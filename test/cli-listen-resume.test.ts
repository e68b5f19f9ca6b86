/**
 * `listen --resume FILE` keeps each channel's last msg_id across runs of a shell agent:
 * a second run prints exactly what it missed, then new messages, nothing twice.
 * `listen --since ID` starts after a given msg_id.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectClient, runCli, spawnCli, startRelay, tempDir } from './helpers/cli.js';

const contents = (lines: string[]) => lines.map((l) => JSON.parse(l) as { type: string; content?: string }).filter((f) => f.type === 'MSG').map((f) => f.content);

test('listen --resume prints what was missed between runs exactly once, and keeps the cursor in the file', async (t) => {
  const relay = await startRelay(t);
  const dir = await tempDir(t);
  const cursor = join(dir, 'general.cursor');
  const talker = await connectClient(t, relay.url);
  await talker.join('#general');

  const first = spawnCli(t, ['listen', relay.url, '#general', '--resume', cursor, '--max-messages', '2']);
  await first.line((l) => l.includes('"JOINED"'));
  await talker.send('#general', 'one');
  await talker.send('#general', 'two');
  t.is(await first.exited, 0, first.stderr());
  t.deepEqual(contents(first.lines), ['one', 'two']);
  const saved = JSON.parse(await readFile(cursor, 'utf8')) as Record<string, number>;
  t.is(typeof saved['#general'], 'number');

  // While no listener runs, more arrives.
  await talker.send('#general', 'three');
  await talker.send('#general', 'four');
  const second = spawnCli(t, ['listen', relay.url, '#general', '--resume', cursor, '--max-messages', '1']);
  await second.line((l) => l.includes('"HISTORY"'));
  await talker.send('#general', 'five');
  t.is(await second.exited, 0, second.stderr());
  t.deepEqual(contents(second.lines), ['three', 'four', 'five'], 'the missed ones once, then the live one');
});

test('listen --since replays only after that msg_id; a bad --since or cursor file is a usage error', async (t) => {
  const relay = await startRelay(t);
  const talker = await connectClient(t, relay.url);
  await talker.join('#general');
  const ids: number[] = [];
  for (const text of ['a', 'b', 'c']) ids.push((await talker.send('#general', text)).msg_id!);
  const run = await runCli(t, ['listen', relay.url, '#general', '--since', String(ids[0]), '--timeout', '0.5']);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(contents(run.stdout.split('\n').filter(Boolean)), ['b', 'c']);

  const dir = await tempDir(t);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'bad.cursor'), '{"#general": "yesterday"}');
  const bad = await runCli(t, ['listen', relay.url, '#general', '--resume', join(dir, 'bad.cursor')]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /is not a cursor file/);
  const both = await runCli(t, ['listen', relay.url, '--since', '1', '--resume', join(dir, 'x')]);
  t.is(both.code, 2);
  t.regex(both.stderr, /choose one/);
});
