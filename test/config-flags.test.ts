/**
 * Every serve flag is in `serve --help` and in README's serve flag table, and the
 * table names the same environment variables as the flags read: the two lists are
 * parsed and held equal, and a difference fails with the list of them.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SERVE_FLAGS } from '../cli/commands/serve.js';
import { REPO, runCli } from './helpers/cli.js';

/** The flags of the help's Options section (its first column), less --help. */
function helpFlags(help: string): string[] {
  const options = help.split('\n  Options\n')[1]?.split('\n\n')[0] ?? '';
  return options.split('\n').map((line) => /^\s+(?:-\w, )?(--[\w-]+)/.exec(line)?.[1]).filter((f): f is string => f !== undefined && f !== '--help');
}

/** README's serve flag table: the `--flags` and (`ENV`) names of each row's first cell. */
function readmeTable(readme: string): { flags: string[]; envs: string[] } {
  const start = readme.indexOf('`agentchat serve` flags');
  if (start === -1) throw new Error('README has no "`agentchat serve` flags" table');
  const rows = readme.slice(start).split('\n').slice(1).filter((l, i, all) => l.startsWith('|') && all.slice(0, i).every((p) => p === '' || p.startsWith('|')));
  const cells = rows.slice(2).map((row) => row.split('|')[1]);
  return {
    flags: cells.flatMap((cell) => [...cell.matchAll(/`(--[\w-]+)/g)].map((m) => m[1])),
    envs: cells.flatMap((cell) => [...cell.matchAll(/\(`([A-Z_]+)`(?:, `([A-Z_]+)`)?\)/g)].flatMap((m) => m.slice(1).filter(Boolean))),
  };
}

const missing = (from: string[], what: string[]) => from.filter((x) => !what.includes(x));

test('serve --help and README\'s flag table list the same flags and environment variables', async (t) => {
  const { code, stdout } = await runCli(t, ['serve', '--help']);
  t.is(code, 0);
  const help = helpFlags(stdout);
  t.deepEqual(help, SERVE_FLAGS.map((f) => `--${f.flag}`), 'the help is the flag table of serve.ts, in order');
  const table = readmeTable(await readFile(join(REPO, 'README.md'), 'utf8'));
  const problems = [
    ...missing(help, table.flags).map((f) => `${f} is in serve --help but not in README's table`),
    ...missing(table.flags, help).map((f) => `${f} is in README's table but not in serve --help`),
  ];
  const envs = SERVE_FLAGS.flatMap((f) => (f.env === undefined ? [] : [f.env]));
  problems.push(
    ...missing(envs, table.envs).map((e) => `${e} is read by serve but not in README's table`),
    ...missing(table.envs, envs).map((e) => `${e} is in README's table but serve does not read it`),
  );
  t.deepEqual(problems, [], problems.join('\n'));
  t.true(table.flags.length >= SERVE_FLAGS.length, 'the table was found and parsed');
});
