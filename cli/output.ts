/** Writing to stdout/stderr: data on stdout, everything else on stderr. */

/** A value as indented JSON on stdout (the query commands). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One JSON object per line on stdout (listen). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** A status or error line on stderr. */
export function status(line: string): void {
  process.stderr.write(line + '\n');
}
