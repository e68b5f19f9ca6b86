/**
 * Parse argv with sade and run the command's action, mapping outcomes to exit
 * codes: 0 success, 1 refused/failed, 2 usage. sade reports usage errors by calling
 * process.exit(1) itself, so that call is intercepted and turned into exit 2.
 */
import type { Sade } from 'sade';
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

function parse(prog: Sade, argv: string[]): Parsed {
  const realExit = process.exit;
  process.exit = ((code?: number) => {
    throw new ParserExit(code ?? 0);
  }) as typeof process.exit;
  try {
    const out = prog.parse(argv, {
      lazy: true,
      ...declaredFlags(),
      unknown: (flag: string) => `Unknown option ${flag}`,
    });
    // --help and --version print and return nothing.
    if (out === undefined) return { exit: EXIT.OK };
    return { handler: out.handler, args: out.args };
  } catch (err) {
    if (err instanceof ParserExit) return { exit: err.code === 0 ? EXIT.OK : EXIT.USAGE };
    throw err;
  } finally {
    process.exit = realExit;
  }
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
