/** The `agentchat` program: one line per command group. */
import sade from 'sade';
import pkg from '../package.json' with { type: 'json' };
import { registerAdmin } from './commands/admin.js';
import { registerConnect } from './commands/connect.js';
import { registerExport } from './commands/export.js';
import { registerDeploy } from './commands/deploy.js';
import { registerIdentity } from './commands/identity.js';
import { registerListen } from './commands/listen.js';
import { registerMcp } from './commands/mcp.js';
import { registerProposals } from './commands/proposals.js';
import { registerQueries } from './commands/queries.js';
import { registerSend } from './commands/send.js';
import { registerServe, serveArgv } from './commands/serve.js';
import { stopWhenNpmParentExits } from './parent-watch.js';
import { exitWith, run } from './run.js';

stopWhenNpmParentExits();

const prog = sade('agentchat').version(pkg.version);

// Only serve needs the relay (uWebSockets.js, the plugins): client commands start without loading it.
// The overview (`agentchat --help`, no command) lists serve, so it loads it too.
const command = process.argv[2];
if (command === undefined || command === 'serve' || command.startsWith('-')) {
  (await import('./commands/serve.js')).registerServe(prog);
}
registerSend(prog);
registerListen(prog);
registerQueries(prog);
registerConnect(prog);
registerIdentity(prog);
registerProposals(prog);
registerExport(prog);
registerMcp(prog, pkg.version);
registerDeploy(prog);
registerAdmin(prog);

exitWith(await run(prog, serveArgv(process.argv)));
