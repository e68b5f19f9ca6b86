/** Write generated files into a directory, all or none: an existing file stops everything unless `force`. */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface OutputFile {
  name: string;
  text: string;
}

/** A generated file would replace one already there. */
export class OutputExistsError extends Error {
  constructor(readonly paths: string[]) {
    super(`${paths.join(' and ')} already exist${paths.length === 1 ? 's' : ''} (use --force to overwrite, or --out DIR)`);
    this.name = 'OutputExistsError';
  }
}

/** Resolves with the paths written. */
export async function writeOutputs(dir: string, files: OutputFile[], force: boolean): Promise<string[]> {
  const paths = files.map((f) => join(dir, f.name));
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0 && !force) throw new OutputExistsError(existing);
  await mkdir(dir, { recursive: true });
  // 'wx' still refuses a file created since the check above.
  await Promise.all(files.map((f, i) => writeFile(paths[i], f.text, { flag: force ? 'w' : 'wx' })));
  return paths;
}
