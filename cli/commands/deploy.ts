/** `agentchat deploy`: write the files that run a relay under Docker compose or on Akash. */
import { readFile } from 'node:fs/promises';
import type { Sade } from 'sade';
import pkg from '../../package.json' with { type: 'json' };
import { akashSdlYaml, handOff } from '../../deploy/akash.js';
import { composeYaml, dockerfile } from '../../deploy/docker.js';
import { parseSeed, SeedError } from '../../deploy/seed.js';
import { writeOutputs, type OutputFile } from '../../deploy/write.js';
import { EXIT, UsageError } from '../errors.js';
import { booleanFlags, stringFlags } from '../flags.js';
import { status } from '../output.js';

export const SDL_FILE = 'deploy.sdl.yaml';

interface DeployFlags {
  provider?: unknown;
  redis?: unknown;
  config?: unknown;
  out?: unknown;
  force?: boolean;
}

export function registerDeploy(prog: Sade): void {
  booleanFlags('force');
  // A string flag, as `serve --redis URL` declares it (mri's flag kinds are global); bare here, so it reads ''.
  stringFlags('provider', 'config', 'out', 'redis');
  prog
    .command('deploy')
    .describe('Write deployment files: docker (Dockerfile, docker-compose.yml) or akash (an SDL from a deploy.yaml seed).')
    .option('--provider', 'docker or akash')
    .option('--redis', 'docker: add a Redis service with AOF persistence and point the relay at it')
    .option('--config', 'akash: the seed file with image, cpu, memory, storage, duration (and price)')
    .option('--out', 'Directory to write into (default: the current one)')
    .option('--force', 'Overwrite files already there')
    .example('deploy --provider docker --redis --out ./relay')
    .example('deploy --provider akash --config deploy.yaml')
    .action((flags: DeployFlags) => deploy(flags));
}

async function deploy(flags: DeployFlags): Promise<number> {
  if (flags.redis !== undefined && flags.redis !== '' && flags.redis !== true) {
    throw new UsageError(`deploy --redis takes no value (it adds a Redis service), got ${JSON.stringify(flags.redis)}`);
  }
  const redis = flags.redis !== undefined;
  const out = flags.out === undefined ? '.' : String(flags.out);
  let files: OutputFile[];
  let next: string;
  if (flags.provider === 'docker') {
    if (flags.config !== undefined) throw new UsageError('--config is for --provider akash; docker takes only --redis');
    const options = { version: pkg.version, redis };
    files = [{ name: 'Dockerfile', text: dockerfile(options) }, { name: 'docker-compose.yml', text: composeYaml(options) }];
    next = `next: cd ${out} && docker compose up -d --build`;
  } else if (flags.provider === 'akash') {
    if (redis) throw new UsageError('--redis is for --provider docker; the Akash SDL runs one relay with its own store');
    if (flags.config === undefined) throw new UsageError('--provider akash needs --config deploy.yaml (image, cpu, memory, storage, duration)');
    const seedFile = String(flags.config);
    const seed = await readSeed(seedFile);
    if (seed === null) return EXIT.USAGE;
    files = [{ name: SDL_FILE, text: akashSdlYaml(seed, SDL_FILE) }];
    next = `next, with a funded wallet: cd ${out} && ${handOff(SDL_FILE, seed)}`;
  } else {
    throw new UsageError(flags.provider === undefined ? '--provider is required: docker or akash' : `--provider must be docker or akash, got ${JSON.stringify(flags.provider)}`);
  }
  for (const path of await writeOutputs(out, files, flags.force === true)) process.stdout.write(`${path}\n`);
  status(next);
  return EXIT.OK;
}

/** The validated seed, or null once every problem is printed (one line each). */
async function readSeed(file: string): Promise<ReturnType<typeof parseSeed> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`--config ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(err)})`}`);
  }
  try {
    return parseSeed(text, file);
  } catch (err) {
    if (!(err instanceof SeedError)) throw err;
    for (const problem of err.problems) status(`error: ${problem}`);
    return null;
  }
}
