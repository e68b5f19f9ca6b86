/**
 * Flag kinds for the argument parser. mri (under sade) must know boolean flags, or
 * `--private #room` would take `#room` as the value of --private; it must know
 * every flag to refuse unknown ones. Command files declare theirs when they register.
 */
const booleans = new Set<string>(['help', 'version']);
const strings = new Set<string>();

export function booleanFlags(...names: string[]): void {
  for (const name of names) booleans.add(name);
}

export function stringFlags(...names: string[]): void {
  for (const name of names) strings.add(name);
}

export function declaredFlags(): { boolean: string[]; string: string[] } {
  return { boolean: [...booleans], string: [...strings] };
}
