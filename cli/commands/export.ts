/**
 * `agentchat export`: an operator's audit of the signed proposals in a relay's data dir,
 * as JSON lines on stdout, one record a line with every signed step. Anyone holding the
 * parties' public keys can check each signature offline (proposalSignedString and the
 * step signing strings in protocol/). Reads the file directly; the relay may be running.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Sade } from 'sade';
import { DATA_FILE, sqliteStore } from '../../store/index.js';
import { EXIT, UsageError } from '../errors.js';
import { stringFlags } from '../flags.js';

interface ExportFlags {
  'data-dir'?: unknown;
}

export function registerExport(prog: Sade): void {
  stringFlags('data-dir');
  prog
    .command('export')
    .describe('Write every signed proposal record in a relay\'s data dir, with its signed steps, as JSON lines (an audit anyone can verify with the parties\' keys).')
    .option('--data-dir', 'The relay\'s data dir (env DATA_DIR, default ./data)')
    .example('export --data-dir ./data > proposals.jsonl')
    .action((flags: ExportFlags) => exportProposals(flags));
}

async function exportProposals(flags: ExportFlags): Promise<number> {
  const dir = String(flags['data-dir'] ?? process.env.DATA_DIR ?? 'data');
  if (!existsSync(join(dir, DATA_FILE))) throw new UsageError(`no relay data file at ${join(dir, DATA_FILE)}; pass the relay's --data-dir`);
  const store = sqliteStore({ dataDir: dir });
  try {
    // `parties` holds the keys the relay saw; an auditor checks against keys it trusts on its own.
    for (const [, record] of await store.namespace('proposals').entries()) process.stdout.write(JSON.stringify(record) + '\n');
  } finally {
    await store.close();
  }
  return EXIT.OK;
}
