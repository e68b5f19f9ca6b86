/**
 * `agentchat deploy`: the built CLI writes Docker and Akash files into a temp dir;
 * they are read back with a YAML parser and checked field by field. No docker
 * engine or Akash network here: generation and validation are what is proven.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO, runCli, spawnCli, tempDir } from './helpers/cli.js';
import { redisTest } from './helpers/redis.js';
import pkg from '../package.json' with { type: 'json' };
import type { ComposeService } from '../deploy/docker.js';

/** What the tests read of a compose service: the generator's own type. */
type Service = ComposeService;
interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** A YAML file as both YAML 1.2 and 1.1 readers see it; the two must agree (Go's parsers differ on `yes`). */
async function readYaml<T>(path: string): Promise<T> {
  const text = await readFile(path, 'utf8');
  const asYaml12 = parse(text) as T;
  if (JSON.stringify(parse(text, { version: '1.1' })) !== JSON.stringify(asYaml12)) throw new Error(`${path} reads differently as YAML 1.1`);
  return asYaml12;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(dockerfile: string): string[] {
  return dockerfile.replace(/\\\n\s*/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The JSON array of an exec-form instruction (CMD [...], ENTRYPOINT [...], HEALTHCHECK ... CMD [...]). */
function execForm(lines: string[], prefix: string): string[] {
  const line = lines.find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`no ${prefix} line`);
  return JSON.parse(line.slice(line.indexOf('['))) as string[];
}

const GOOD_SEED = ['image: ghcr.io/example/agentchat:0.4.0', 'cpu: 0.5', 'memory: 512Mi', 'storage: 10Gi', 'duration: 30d', ''].join('\n');

test('deploy --provider docker writes a compose file: the relay with a data volume, a /healthz healthcheck and a restart policy', async (t) => {
  const out = await tempDir(t);
  const run = await runCli(t, ['deploy', '--provider', 'docker', '--out', out]);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(run.stdout.split('\n'), [join(out, 'Dockerfile'), join(out, 'docker-compose.yml')]);
  t.regex(run.stderr, /docker compose up/);

  const compose = await readYaml<ComposeFile>(join(out, 'docker-compose.yml'));
  t.deepEqual(Object.keys(compose.services), ['relay'], 'no Redis without --redis');
  const relay = compose.services.relay;
  t.deepEqual(relay.command, ['serve', '--host', '0.0.0.0']);
  t.is(relay.build?.context, '.');
  t.is(relay.build?.args.AGENTCHAT_PACKAGE, `\${AGENTCHAT_PACKAGE:-agentchat@${pkg.version}}`);
  t.is(relay.environment?.DATA_DIR, '/data');
  t.deepEqual(relay.ports, ['6667:6667']);
  t.deepEqual(relay.volumes, ['relay-data:/data']);
  t.deepEqual(Object.keys(compose.volumes), ['relay-data']);
  t.is(relay.restart, 'unless-stopped');
  t.is(relay.depends_on, undefined);
  t.is(relay.healthcheck.test[0], 'CMD');
  t.regex(relay.healthcheck.test.join(' '), /fetch\('http:\/\/127\.0\.0\.1:'.*'\/healthz'\)/);
  t.false(relay.healthcheck.test.some((a) => /curl|wget/.test(a)), 'the slim image has no curl');
});

test('deploy --provider docker --redis adds Redis with AOF on its own volume; the relay uses it and waits for it to be healthy', async (t) => {
  const out = await tempDir(t);
  const run = await runCli(t, ['deploy', '--provider', 'docker', '--redis', '--out', out]);
  t.is(run.code, 0, run.stderr);
  const compose = await readYaml<ComposeFile>(join(out, 'docker-compose.yml'));
  const { relay, redis } = compose.services;
  t.deepEqual(relay.command, ['serve', '--host', '0.0.0.0', '--redis', 'redis://redis:6379']);
  t.deepEqual(relay.depends_on, { redis: { condition: 'service_healthy' } });
  t.regex(redis.image, /^redis:\d+-bookworm$/);
  const appendonly = redis.command.indexOf('--appendonly');
  t.true(appendonly !== -1 && redis.command[appendonly + 1] === 'yes', `AOF on: ${redis.command.join(' ')}`);
  t.deepEqual(redis.volumes, ['redis-data:/data']);
  t.is(redis.ports, undefined, 'Redis is reachable from the relay only');
  t.deepEqual(redis.healthcheck.test, ['CMD', 'redis-cli', 'ping']);
  t.is(redis.restart, 'unless-stopped');
  t.deepEqual(Object.keys(compose.volumes).sort(), ['redis-data', 'relay-data']);
});

redisTest("the compose file's Redis command, run by redis-server, keeps a write across a kill -9 and restart (AOF, not a snapshot)", async (t) => {
  const out = await tempDir(t);
  t.is((await runCli(t, ['deploy', '--provider', 'docker', '--redis', '--out', out])).code, 0);
  const { redis } = (await readYaml<ComposeFile>(join(out, 'docker-compose.yml'))).services;
  t.is(redis.command[0], 'redis-server');
  const dir = await tempDir(t);
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  // The compose command as written; only where it listens and its /data volume are this test's.
  const start = async () => {
    const child = spawn('redis-server', [...redis.command.slice(1), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', '']);
    t.teardown(() => void child.kill('SIGKILL'));
    let output = '';
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout) {
      output += chunk as string;
      if (/Ready to accept connections/.test(output)) break;
    }
    child.stdout.resume();
    return child;
  };
  const cli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  const first = await start();
  t.is(cli('CONFIG', 'GET', 'appendonly'), 'appendonly\nyes');
  t.is(cli('SET', 'proposal:1', 'accepted'), 'OK');
  const killed = once(first, 'exit');
  first.kill('SIGKILL'); // no shutdown snapshot: only the append-only file has the write
  await killed;
  await start();
  t.is(cli('GET', 'proposal:1'), 'accepted');
});

test('the generated Dockerfile is Debian-based, installs this version, runs as non-root with DATA_DIR owned, and checks /healthz as compose does', async (t) => {
  const out = await tempDir(t);
  t.is((await runCli(t, ['deploy', '--provider', 'docker', '--out', out])).code, 0);
  const text = await readFile(join(out, 'Dockerfile'), 'utf8');
  const lines = instructions(text);
  const froms = lines.filter((l) => l.startsWith('FROM '));
  t.true(froms.length >= 1 && froms.every((l) => /^FROM node:20-bookworm-slim\b/.test(l)), froms.join('\n'));
  t.false(/alpine/i.test(text.replace(/^#.*$/gm, '')), 'uWebSockets.js needs glibc');
  t.true(lines.includes(`ARG AGENTCHAT_PACKAGE=agentchat@${pkg.version}`));
  t.regex(lines.join('\n'), /^RUN npm install --omit=dev .*"\$AGENTCHAT_PACKAGE"/m);
  const final = lines.slice(lines.lastIndexOf(froms[froms.length - 1]));
  t.true(final.includes('ENV DATA_DIR=/data'));
  t.regex(final.join('\n'), /^RUN mkdir -p \/data && chown node:node \/data$/m);
  t.true(final.indexOf('USER node') > final.findIndex((l) => l.includes('chown')), 'the data dir is chowned before dropping root');
  t.true(final.includes('EXPOSE 6667'));
  const compose = await readYaml<ComposeFile>(join(out, 'docker-compose.yml'));
  t.deepEqual(['CMD', ...execForm(final, 'HEALTHCHECK ')], compose.services.relay.healthcheck.test);
  t.deepEqual(execForm(final, 'CMD '), ['serve', '--host', '0.0.0.0']);
});

test("the image's ENTRYPOINT finds the CLI where `npm install agentchat` puts it, and its CMD serves", async (t) => {
  const out = await tempDir(t);
  t.is((await runCli(t, ['deploy', '--provider', 'docker', '--out', out])).code, 0);
  const lines = instructions(await readFile(join(out, 'Dockerfile'), 'utf8'));
  const [node, ...entry] = execForm(lines, 'ENTRYPOINT ');
  t.is(node, 'node');
  // /app as the install stage leaves it: node_modules/agentchat is this package (linked: its node_modules are large).
  const app = await tempDir(t, 'agentchat-deploy-app-');
  await mkdir(join(app, 'node_modules'));
  await symlink(REPO, join(app, 'node_modules', 'agentchat'), 'dir');
  const scriptAt = entry.findIndex((a) => a.endsWith('.js'));
  const cmd = execForm(lines, 'CMD ');
  const relay = spawnCli(t, [...cmd.slice(0, cmd.indexOf('--host')), '--host', '127.0.0.1', '--port', '0'], {
    cwd: app,
    nodeArgs: entry.slice(0, scriptAt),
    script: join(app, entry[scriptAt]),
  });
  t.regex(await relay.line(), /^agentchat listening on ws:\/\/127\.0\.0\.1:\d+$/);
  relay.child.kill('SIGTERM');
  t.is(await relay.exited, 0, relay.stderr());
});

test('the healthcheck needs only node: it passes when /healthz answers 200 and fails on 503 or when nothing listens', async (t) => {
  const out = await tempDir(t);
  t.is((await runCli(t, ['deploy', '--provider', 'docker', '--out', out])).code, 0);
  const [, ...check] = (await readYaml<ComposeFile>(join(out, 'docker-compose.yml'))).services.relay.healthcheck.test;
  let status = 200;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(req.url === '/healthz' ? status : 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const runCheck = (env: Record<string, string>) => new Promise<number | null>((resolve) => {
    t.is(check[0], 'node');
    const child = spawn(process.execPath, check.slice(1), { env: { ...process.env, ...env }, stdio: 'ignore' });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    child.once('close', resolve);
  });
  t.is(await runCheck({ PORT: String(port) }), 0, '200: healthy');
  status = 503;
  t.is(await runCheck({ PORT: String(port) }), 1, '503: unhealthy');
  t.deepEqual(paths, ['/healthz', '/healthz']);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.is(await runCheck({ PORT: String(port) }), 1, 'nothing listening: unhealthy');
});

test('deploy --provider akash turns the seed into an SDL 2.0: image, resources, a persistent data volume, pricing, one relay', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'deploy.yaml'), GOOD_SEED);
  const out = join(dir, 'akash');
  const run = await runCli(t, ['deploy', '--provider', 'akash', '--config', join(dir, 'deploy.yaml'), '--out', out]);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout, join(out, 'deploy.sdl.yaml'));
  // 30 days at the default 100 uakt per block, ~600 blocks an hour.
  t.regex(run.stderr, /provider-services tx deployment create deploy\.sdl\.yaml --deposit 43200000uakt --from <wallet>/);

  const text = await readFile(join(out, 'deploy.sdl.yaml'), 'utf8');
  t.regex(text, /^version: "2\.0"$/m, 'a string, as Akash requires');
  t.regex(text, /^# .*--deposit 43200000uakt/m, 'the hand-off is in the file too');
  const sdl = await readYaml<Record<string, unknown>>(join(out, 'deploy.sdl.yaml'));
  t.deepEqual(Object.keys(sdl), ['version', 'services', 'profiles', 'deployment']);
  t.like(sdl, {
    version: '2.0',
    services: {
      relay: {
        image: 'ghcr.io/example/agentchat:0.4.0',
        env: ['DATA_DIR=/data'],
        expose: [{ port: 6667, as: 80, to: [{ global: true }] }],
        params: { storage: { data: { mount: '/data', readOnly: false } } },
      },
    },
    profiles: {
      compute: {
        relay: {
          resources: {
            cpu: { units: 0.5 },
            memory: { size: '512Mi' },
            storage: [{ size: '1Gi' }, { name: 'data', size: '10Gi', attributes: { persistent: true, class: 'beta3' } }],
          },
        },
      },
      placement: { akash: { pricing: { relay: { denom: 'uakt', amount: 100 } } } },
    },
    deployment: { relay: { akash: { profile: 'relay', count: 1 } } },
  });
});

test('a seed in millicores with a price and a duration in weeks gives those units and that deposit', async (t) => {
  const dir = await tempDir(t);
  const seed = ['image: registry.example.com:5000/ops/agentchat@sha256:' + 'a'.repeat(64), 'cpu: 250m', 'memory: 1Gi', 'storage: 512Mi', 'duration: 2w', 'price: 1000'].join('\n');
  await writeFile(join(dir, 'deploy.yaml'), seed);
  const run = await runCli(t, ['deploy', '--provider', 'akash', '--config', join(dir, 'deploy.yaml'), '--out', dir]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stderr, /--deposit 201600000uakt/); // 1000 × 336 h × 600
  const sdl = await readYaml<{ profiles: { compute: { relay: { resources: { cpu: { units: number } } } }; placement: { akash: { pricing: { relay: { amount: number } } } } } }>(join(dir, 'deploy.sdl.yaml'));
  t.is(sdl.profiles.compute.relay.resources.cpu.units, 0.25);
  t.is(sdl.profiles.placement.akash.pricing.relay.amount, 1000);
});

test('a bad seed is refused with one error line per bad field, exit 2, and nothing written', async (t) => {
  const dir = await tempDir(t);
  const seed = join(dir, 'deploy.yaml');
  await writeFile(seed, ['image: agentchat:latest', 'cpu: lots', 'memory: 512', 'storage: 1Kb', 'duration: forever', 'price: -1', 'colour: red'].join('\n'));
  const out = join(dir, 'out');
  const run = await runCli(t, ['deploy', '--provider', 'akash', '--config', seed, '--out', out]);
  t.is(run.code, 2);
  const lines = run.stderr.trimEnd().split('\n');
  t.is(lines.length, 7, run.stderr);
  t.true(lines.every((l) => l.startsWith(`error: ${seed}: `)), run.stderr);
  for (const [field, why] of [
    ['unknown field colour', /the fields are image, cpu, memory, storage, duration, price/],
    ['image', /not :latest/],
    ['cpu', /vCPUs .* or millicores .*got "lots"/],
    ['memory', /size with a unit.*got 512$/],
    ['storage', /size with a unit.*got "1Kb"/],
    ['duration', /hours, days or weeks.*got "forever"/],
    ['price', /uakt per block.*got -1$/],
  ] as const) {
    const line = lines.find((l) => l.startsWith(`error: ${seed}: ${field}`));
    t.truthy(line, `a line for ${field}:\n${run.stderr}`);
    t.regex(line ?? '', why);
  }
  t.false(existsSync(out), 'nothing written');
});

test('a seed missing fields, too small, not a mapping or not YAML is refused with exit 2', async (t) => {
  const dir = await tempDir(t);
  const cases: Array<[string, RegExp[]]> = [
    ['image: a/b:1\n', [/cpu is missing/, /memory is missing/, /storage is missing/, /duration is missing/]],
    [GOOD_SEED.replace('512Mi', '64Mi').replace('10Gi', '1Mi').replace('0.5', '0.0001'), [/memory must be at least 128Mi/, /storage must be at least 64Mi/, /cpu must be vCPUs/]],
    ['- image\n- cpu\n', [/must be a mapping with the fields image, cpu/]],
    ['image: [\n', [/not valid YAML: .* at line 2, column 1$/]],
    ['image: a:1\nimage: b:2\n', [/not valid YAML: Map keys must be unique/]],
  ];
  for (const [text, expected] of cases) {
    const seed = join(dir, 'deploy.yaml');
    await writeFile(seed, text);
    const run = await runCli(t, ['deploy', '--provider', 'akash', '--config', seed, '--out', join(dir, 'out')]);
    t.is(run.code, 2, text);
    const lines = run.stderr.trimEnd().split('\n');
    t.is(lines.length, expected.length, run.stderr);
    for (const pattern of expected) t.true(lines.some((l) => l.startsWith('error: ') && pattern.test(l)), `${pattern} in:\n${run.stderr}`);
  }
  t.false(existsSync(join(dir, 'out')));
});

test('deploy refuses to overwrite existing files without --force (exit 1, files untouched) and overwrites with it', async (t) => {
  const out = await tempDir(t);
  await writeFile(join(out, 'docker-compose.yml'), 'mine\n');
  const refused = await runCli(t, ['deploy', '--provider', 'docker', '--out', out]);
  t.is(refused.code, 1);
  t.is(refused.stderr.trimEnd(), `error: ${join(out, 'docker-compose.yml')} already exists (use --force to overwrite, or --out DIR)`);
  t.is(await readFile(join(out, 'docker-compose.yml'), 'utf8'), 'mine\n');
  t.deepEqual(await readdir(out), ['docker-compose.yml'], 'no Dockerfile written either: all or nothing');

  const forced = await runCli(t, ['deploy', '--provider', 'docker', '--redis', '--out', out, '--force']);
  t.is(forced.code, 0, forced.stderr);
  t.truthy((await readYaml<ComposeFile>(join(out, 'docker-compose.yml'))).services.redis);

  await writeFile(join(out, 'deploy.yaml'), GOOD_SEED);
  await writeFile(join(out, 'deploy.sdl.yaml'), 'mine\n');
  const sdlRefused = await runCli(t, ['deploy', '--provider', 'akash', '--config', join(out, 'deploy.yaml'), '--out', out]);
  t.is(sdlRefused.code, 1);
  t.regex(sdlRefused.stderr, /deploy\.sdl\.yaml already exists \(use --force/);
  t.is(await readFile(join(out, 'deploy.sdl.yaml'), 'utf8'), 'mine\n');
});

test('deploy usage errors exit 2 with one line: no provider, an unknown one, akash without a seed or with --redis, --redis with a value, a missing seed', async (t) => {
  const out = await tempDir(t);
  const cases: Array<[string[], RegExp]> = [
    [['deploy'], /^error: --provider is required: docker or akash$/],
    [['deploy', '--provider', 'k8s'], /^error: --provider must be docker or akash, got "k8s"$/],
    [['deploy', '--provider', 'akash'], /^error: --provider akash needs --config deploy\.yaml/],
    [['deploy', '--provider', 'akash', '--config', 'x.yaml', '--redis'], /^error: --redis is for --provider docker/],
    [['deploy', '--provider', 'docker', '--config', 'x.yaml'], /^error: --config is for --provider akash/],
    [['deploy', '--provider', 'docker', '--redis', 'redis://elsewhere:6379'], /^error: deploy --redis takes no value/],
    [['deploy', '--provider', 'akash', '--config', join(out, 'nope.yaml')], /^error: --config .*nope\.yaml: no such file$/],
  ];
  for (const [args, expected] of cases) {
    const run = await runCli(t, [...args, '--out', out]);
    t.is(run.code, 2, args.join(' '));
    t.regex(run.stderr.trimEnd(), expected);
  }
  t.deepEqual(await readdir(out), []);
});
