/** `agentchat identity`: generate, show or export the identity file (default ~/.agentchat/identity.json). */
import type { Sade } from 'sade';
import { defaultIdentityPath, generateIdentity, loadIdentity, publicIdentity, saveIdentity } from '../../client/index.js';
import { isAgentName } from '../../protocol/index.js';
import { EXIT, UsageError } from '../errors.js';
import { booleanFlags, stringFlags } from '../flags.js';
import { printJson } from '../output.js';

interface IdentityFlags {
  generate?: boolean;
  force?: boolean;
  show?: boolean;
  export?: boolean;
  file?: unknown;
  name?: unknown;
}

export function registerIdentity(prog: Sade): void {
  booleanFlags('generate', 'force', 'show', 'export');
  stringFlags('file', 'name');
  prog
    .command('identity')
    .describe('Manage the Ed25519 identity that gives an agent a persistent id. Without a flag: --show.')
    .option('--generate', 'Create a new identity (refuses to replace an existing file without --force)')
    .option('--force', 'With --generate: overwrite an existing identity (its agent id is lost)')
    .option('--show', 'Print name, agent id, public key, creation time and path')
    .option('--export', 'Print only the public part: name, pubkey, agent_id')
    .option('--file', `Identity file (default ${defaultIdentityPath()})`)
    .option('-n, --name', 'Agent name for --generate (default "agent")')
    .example('identity --generate --name alice')
    .example('identity --export > alice.pub.json')
    .action((flags: IdentityFlags) => identity(flags));
}

async function identity(flags: IdentityFlags): Promise<number> {
  const modes = (['generate', 'show', 'export'] as const).filter((m) => flags[m] === true);
  if (modes.length > 1) throw new UsageError(`choose one of --generate, --show, --export (got ${modes.map((m) => `--${m}`).join(' ')})`);
  const path = flags.file === undefined ? defaultIdentityPath() : String(flags.file);

  if (modes[0] === 'generate') {
    const name = flags.name === undefined ? 'agent' : String(flags.name);
    if (!isAgentName(name)) throw new UsageError(`--name must be 1-32 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(name)}`);
    const created = generateIdentity(name);
    await saveIdentity(created, path, { overwrite: flags.force === true });
    printJson({ name: created.name, agent_id: created.agentId, pubkey: created.pubkey, created: created.created, path });
    return EXIT.OK;
  }

  const loaded = await loadIdentity(path);
  if (modes[0] === 'export') printJson(publicIdentity(loaded));
  else printJson({ name: loaded.name, agent_id: loaded.agentId, pubkey: loaded.pubkey, created: loaded.created, path });
  return EXIT.OK;
}
