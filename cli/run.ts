/**
 * Parse argv with sade and run the command's action, mapping outcomes to exit
 * codes: 0 success, 1 refused/failed, 2 usage. sade reports usage errors by printing
 * a block with console.error and calling process.exit(1) itself: both are
 * intercepted, and the error becomes one `error:` line and exit 2.
 */
import type { Sade } from 'sade';
import { QUOTE_HINT } from './arguments.js';
import { errorLine, EXIT, exitCodeFor } from './errors.js';
import { declaredFlags } from './flags.js';
import { status } from './output.js';

/** Thrown in place of sade's process.exit while parsing. */
class ParserExit extends Error {
  constructor(readonly code: number) {
    super(`parser exit ${code}`);
  }
}

type Parsed = { handler: (...args: unknown[]) => unknown; args: unknown[] } | { exit: number };

/** Appended to every --help. */
const EXIT_CODES_HELP = '  Exit codes\n    0    success\n    1    failed: refused by the relay, timed out, could not connect\n    2    usage error, found before connecting (bad argument, flag or URL)';

/** Commands with a #channel among their required arguments: a shell comment may have eaten it. */
const CHANNEL_COMMANDS = new Set(['send', 'agents', 'create', 'invite']);

/**
 * `--timeout -1` as `--timeout=-1`: the parser would read `-1` as a flag of its own
 * ("Unknown option -1"); joined, the number reaches the command and its own check.
 */
function joinNegativeValues(args: string[], valueFlags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const next = args[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && valueFlags.includes(arg.slice(2)) && next !== undefined && /^-\d*\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function parse(prog: Sade, argv: string[]): Parsed {
  const flags = declaredFlags();
  const realExit = process.exit;
  const realError = console.error;
  let reported = '';
  process.exit = ((code?: number) => {
    throw new ParserExit(code ?? 0);
  }) as typeof process.exit;
  console.error = (...parts: unknown[]) => {
    reported += parts.map(String).join(' ');
  };
  try {
    const out = prog.parse([...argv.slice(0, 2), ...joinNegativeValues(argv.slice(2), flags.string)], {
      lazy: true,
      ...flags,
      unknown: (flag: string) => `Unknown option ${flag}`,
    });
    // --help and --version print and return nothing.
    if (out === undefined) {
      if (argv.includes('--help') || argv.includes('-h')) process.stdout.write(`${EXIT_CODES_HELP}\n\n`);
      return { exit: EXIT.OK };
    }
    return { handler: out.handler, args: out.args };
  } catch (err) {
    if (!(err instanceof ParserExit)) throw err;
    if (err.code !== 0) status(usageLine(reported, argv[2]));
    return { exit: err.code === 0 ? EXIT.OK : EXIT.USAGE };
  } finally {
    process.exit = realExit;
    console.error = realError;
  }
}

/** sade's error block ("ERROR / Insufficient arguments! / Run `$ agentchat send --help` …") as one line. */
function usageLine(block: string, command: string | undefined): string {
  // sade names only the program in its hint for an unknown option: the command's own help is the useful one.
  const lines = block.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== 'ERROR');
  const message = (lines[0] ?? 'invalid arguments').replace(/!$/, '');
  const overview = command === undefined || command.startsWith('-') || /^(Invalid command|No command)/.test(message);
  const help = overview ? 'agentchat --help' : `agentchat ${command} --help`;
  const hint = /^Insufficient arguments/.test(message) && command !== undefined && CHANNEL_COMMANDS.has(command) ? `; ${QUOTE_HINT}` : '';
  return `error: ${message} (see \`${help}\`)${hint}`;
}

/** Run the program; resolves with the exit code. */
export async function run(prog: Sade, argv: string[]): Promise<number> {
  const parsed = parse(prog, argv);
  if ('exit' in parsed) return parsed.exit;
  try {
    const result = await parsed.handler(...parsed.args);
    return typeof result === 'number' ? result : EXIT.OK;
  } catch (err) {
    status(errorLine(err));
    return exitCodeFor(err);
  }
}

/** Exit with `code` once output is flushed; a lingering handle cannot keep the process up past a grace period. */
export function exitWith(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 500).unref();
}
