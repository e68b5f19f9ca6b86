/**
 * Helpers for test/readme.test.ts: the ```sh blocks of a Markdown file split into
 * commands, and bash scripts run in their own process group (killed at teardown)
 * with line-oriented access to stdout.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';

/** One command of a sh block: continuation lines joined, comments dropped. */
export interface ShCommand {
  /** 1-based line in the Markdown file where the command starts. */
  line: number;
  /** The command's physical lines as written (comments included), for bash to run. */
  source: string;
  /** The command on one line, comments and continuations removed: what the tables match. */
  text: string;
}

export interface ShBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The block's body as written, for bash to run as one script. */
  source: string;
  commands: ShCommand[];
}

/** Every ```sh block (not ```js, ```json, …) with its commands. */
export function shBlocks(markdown: string): ShBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trimEnd() !== '```sh') continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i].trimEnd() !== '```'; i++) body.push(lines[i]);
    if (i === lines.length) throw new Error(`the sh block at line ${start + 1} is never closed`);
    blocks.push({ line: start + 1, source: body.join('\n') + '\n', commands: commandsOf(body, start + 2) });
  }
  return blocks;
}

function commandsOf(body: string[], firstLine: number): ShCommand[] {
  const commands: ShCommand[] = [];
  let pending: { line: number; source: string[]; parts: string[] } | null = null;
  body.forEach((raw, index) => {
    const code = stripComment(raw).trim();
    if (pending === null) {
      if (code === '') return; // blank or comment-only
      pending = { line: firstLine + index, source: [], parts: [] };
    }
    pending.source.push(raw);
    const continued = code.endsWith('\\');
    pending.parts.push((continued ? code.slice(0, -1) : code).trim());
    if (!continued) {
      commands.push({ line: pending.line, source: pending.source.join('\n'), text: pending.parts.filter(Boolean).join(' ') });
      pending = null;
    }
  });
  if (pending !== null) throw new Error(`the command at line ${(pending as { line: number }).line} ends with a continuation \\ and no next line`);
  return commands;
}

/** A line without its `# comment`: a # that starts a word outside quotes, as bash reads it. */
export function stripComment(line: string): string {
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = null;
    } else if (c === '\\') {
      i++; // the next character is escaped (outside single quotes)
    } else if (quote === '"') {
      if (c === '"') quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line;
}

/** Replace each key of `substitutions` by its value, everywhere in `script`. */
export function substitute(script: string, substitutions: Record<string, string>): string {
  let out = script;
  for (const [from, to] of Object.entries(substitutions)) out = out.split(from).join(to);
  return out;
}

/** The top-level JSON values of a text holding several, one after another (pretty-printed or not). */
export function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if (c === '}' || c === ']') {
      if (--depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
    } else if (depth === 0 && !/\s/.test(c)) {
      throw new Error(`not JSON at offset ${i}: ${JSON.stringify(text.slice(i, i + 40))}`);
    }
  }
  if (depth !== 0) throw new Error(`unterminated JSON value: ${JSON.stringify(text.slice(start, start + 80))}`);
  return values;
}

export interface ShOptions {
  cwd: string;
  /** Merged over process.env. */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed (closed at once when undefined: no command waits on a terminal). */
  input?: string;
  /** bash options before -c, e.g. ['-e', '-o', 'pipefail']. */
  bashOptions?: string[];
}

export interface ShResult {
  script: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ShProcess {
  child: ChildProcessWithoutNullStreams;
  readonly lines: string[];
  /** Resolves with the first stdout line matching `test` (lines already printed count). */
  line(test?: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves once bash exited and its output is closed. */
  result: Promise<ShResult>;
}

/** `bash -c script` in its own process group; the whole group is killed at teardown. */
export function spawnSh(t: ExecutionContext, script: string, options: ShOptions): ShProcess {
  const child = spawn('bash', [...(options.bashOptions ?? []), '-c', script], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    detached: true,
  });
  const pid = child.pid!;
  // Background jobs and pipeline members too: everything the script started is in the group.
  t.teardown(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  const stdoutDone = new Promise<void>((resolve) =>
    createInterface({ input: child.stdout })
      .on('line', (line) => {
        lines.push(line);
        for (const waiter of waiters) if (waiter.test(line)) waiter.resolve(line);
      })
      .on('close', resolve),
  );
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const result = new Promise<ShResult>((resolve) =>
    child.once('close', (code) => void stdoutDone.then(() => resolve({ script, code, stdout: lines.join('\n'), stderr }))),
  );
  child.stdin.on('error', () => {}); // a script that exits without reading its input
  child.stdin.end(options.input ?? '');

  const describe = () => `$ ${script}\nstdout so far:\n${lines.join('\n')}\nstderr so far:\n${stderr}`;
  return {
    child,
    lines,
    result,
    line(test = () => true, timeoutMs = 10_000) {
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const waiter = {
          test,
          resolve: (line: string) => {
            waiters.delete(waiter);
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching stdout line in ${timeoutMs} ms\n${describe()}`));
        }, timeoutMs);
        waiters.add(waiter);
        void result.then(() => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`the script ended before a matching stdout line\n${describe()}`));
        });
      });
    },
  };
}

/** Run `bash -c script` to completion. */
export function runSh(t: ExecutionContext, script: string, options: ShOptions): Promise<ShResult> {
  return spawnSh(t, script, options).result;
}

/** A run as text for an assertion message: the script, its exit code, stdout and stderr. */
export function shown(run: ShResult): string {
  return `$ ${run.script}\nexit code: ${run.code}\n--- stdout:\n${run.stdout}\n--- stderr:\n${run.stderr}`;
}
