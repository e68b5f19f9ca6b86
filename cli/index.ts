/** The `agentchat` program: one line per command group. */
import sade from 'sade';
import pkg from '../package.json' with { type: 'json' };
import { registerConnect } from './commands/connect.js';
import { registerDeploy } from './commands/deploy.js';
import { registerIdentity } from './commands/identity.js';
import { registerListen } from './commands/listen.js';
import { registerProposals } from './commands/proposals.js';
import { registerQueries } from './commands/queries.js';
import { registerSend } from './commands/send.js';
import { registerServe } from './commands/serve.js';
import { stopWhenNpmParentExits } from './parent-watch.js';
import { exitWith, run } from './run.js';

stopWhenNpmParentExits();

const prog = sade('agentchat').version(pkg.version);

registerServe(prog);
registerSend(prog);
registerListen(prog);
registerQueries(prog);
registerConnect(prog);
registerIdentity(prog);
registerProposals(prog);
registerDeploy(prog);

exitWith(await run(prog, process.argv));
