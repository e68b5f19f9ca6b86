/**
 * The container image without a docker engine: the Dockerfile has the lines it
 * must have, and the files the image holds (package.json, lock, dist/, production
 * node_modules) run its CMD and pass its HEALTHCHECK on their own.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { copyFile, cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runModule, spawnCli, tempDir } from './helpers/cli.js';

const dockerfile = await readFile(join(REPO, 'Dockerfile'), 'utf8');
/** Instructions with continuation lines joined, comments dropped. */
const instructions = dockerfile.replace(/\\\n\s*/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
const stages = instructions.join('\n').split(/^(?=FROM )/m);

/** The JSON array of an exec-form instruction such as CMD ["node", ...]. */
function execForm(prefix: string): string[] {
  const line = instructions.find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`no ${prefix} line in the Dockerfile`);
  return JSON.parse(line.slice(line.indexOf('['))) as string[];
}

test('the Dockerfile builds in one Debian stage and runs production deps as a non-root user in another', (t) => {
  t.is(stages.length, 2);
  const [build, final] = stages;
  t.regex(build, /^FROM node:20-bookworm-slim AS build$/m);
  t.regex(build, /^RUN npm ci\b/m);
  t.regex(build, /^RUN npm run build$/m);
  t.regex(final, /^FROM node:20-bookworm-slim$/m);
  t.regex(build, /^RUN npm prune --omit=dev\b/m, 'production dependencies, native modules built in the build stage');
  t.regex(final, /^COPY --from=build \/app\/node_modules \.\/node_modules$/m);
  t.regex(final, /^ENV DATA_DIR=\/data$/m);
  t.regex(final, /^VOLUME \/data$/m);
  t.regex(final, /^COPY --from=build \/app\/dist \.\/dist$/m);
  t.notRegex(final, /^COPY \. /m, 'no sources or dev files in the final image');
  const user = /^USER (\S+)$/m.exec(final)?.[1];
  t.truthy(user);
  t.not(user, 'root');
  t.regex(final, /^EXPOSE 6667$/m);
  t.regex(final, /^HEALTHCHECK .*CMD \[/m);
  t.deepEqual(execForm('CMD '), ['node', '--max-semi-space-size=2', 'dist/cli.js', 'serve', '--host', '0.0.0.0']);
  t.false(dockerfile.includes('alpine'), 'uWebSockets.js needs glibc');
});

test('.dockerignore keeps host node_modules and dist out of the build context', async (t) => {
  const ignored = (await readFile(join(REPO, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim());
  t.true(ignored.includes('node_modules'));
  t.true(ignored.includes('dist'));
});

test("the image's files alone run its CMD (with --port 0) and pass its HEALTHCHECK", async (t) => {
  const app = await tempDir(t, 'agentchat-image-');
  await copyFile(join(REPO, 'package.json'), join(app, 'package.json'));
  await copyFile(join(REPO, 'package-lock.json'), join(app, 'package-lock.json'));
  await cp(join(REPO, 'dist'), join(app, 'dist'), { recursive: true });
  // What `npm ci --omit=dev` installs: the lockfile's non-dev packages (it cannot run offline here, so they come from the repo).
  const lock = JSON.parse(await readFile(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  await mkdir(join(app, 'node_modules'));
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!/^node_modules\/[^/]+$|^node_modules\/@[^/]+\/[^/]+$/.test(path) || entry.dev === true) continue;
    if (!existsSync(join(REPO, path))) continue; // an optional dependency that did not install
    await mkdir(join(app, path, '..'), { recursive: true });
    // uWebSockets.js carries ~100 MB of binaries for every platform: linked rather than copied.
    if (path === 'node_modules/uWebSockets.js') await symlink(join(REPO, path), join(app, path), 'dir');
    else await cp(join(REPO, path), join(app, path), { recursive: true });
  }
  t.false(existsSync(join(app, 'node_modules', 'tsx')), 'no dev dependencies');

  const [command, ...args] = execForm('CMD ');
  t.is(command, 'node');
  const scriptAt = args.findIndex((a) => a.endsWith('.js'));
  // The CMD as written, with loopback and an ephemeral port instead of 0.0.0.0:6667.
  const image = spawnCli(t, [...args.slice(scriptAt + 1, args.indexOf('--host')), '--port', '0', '--host', '127.0.0.1'], {
    cwd: app,
    nodeArgs: args.slice(0, scriptAt),
    script: join(app, args[scriptAt]),
    env: { NODE_ENV: 'production' },
  });
  const first = await image.line();
  const match = /^agentchat listening on ws:\/\/127\.0\.0\.1:(\d+)$/.exec(first);
  t.truthy(match, `first line: ${first}\nstderr: ${image.stderr()}`);
  t.notRegex(image.stderr(), /fell back to its slow JavaScript/);

  const healthcheck = execForm('HEALTHCHECK ');
  const health = spawn(healthcheck[0] === 'node' ? process.execPath : healthcheck[0], healthcheck.slice(1), {
    cwd: app,
    env: { ...process.env, PORT: match![1] },
    stdio: 'ignore',
  });
  t.teardown(() => {
    if (health.exitCode === null) health.kill('SIGKILL');
  });
  const code = await new Promise<number | null>((resolve) => health.once('close', resolve));
  t.is(code, 0, 'HEALTHCHECK passes against the running relay');

  image.child.kill('SIGTERM');
  t.is(await image.exited, 0);
});

test("after the build, `import { AgentChatClient } from 'agentchat'` resolves to dist/ and works", async (t) => {
  const script = [
    "import { AgentChatClient, createRelay, generateIdentity } from 'agentchat';",
    "const relay = createRelay({ port: 0, host: '127.0.0.1', log: false });",
    'await relay.listen();',
    "const client = new AgentChatClient({ server: 'ws://127.0.0.1:' + relay.port, identity: generateIdentity('pkg') });",
    'const welcome = await client.connect();',
    'console.log(JSON.stringify({ id: welcome.agent_id === client.identity.agentId, verified: welcome.verified }));',
    'await client.disconnect();',
    'await relay.close();',
  ].join('\n');
  const { code, stdout: out, stderr: err } = await runModule(t, script);
  t.is(code, 0, err);
  t.deepEqual(JSON.parse(out), { id: true, verified: true });
  t.true(existsSync(join(REPO, 'dist', 'types', 'index.d.ts')), 'type declarations are emitted');
});
