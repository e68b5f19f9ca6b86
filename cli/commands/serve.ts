/** `agentchat serve`: run a relay. Flags win over environment variables, which win over defaults. */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Sade } from 'sade';
import { createRelayWith, DEFAULT_CONFIG, type Plugin, type RelayConfig } from '../../kernel/index.js';
import { corePlugins } from '../../plugins/index.js';
import { DEFAULT_PORT } from '../../protocol/index.js';
import { EXIT, UsageError } from '../errors.js';
import { booleanFlags, stringFlags } from '../flags.js';
import { status } from '../output.js';

/** Time the relay gets to close after SIGINT/SIGTERM before the process exits anyway. */
const HARD_EXIT_MS = 5_000;

export interface ServeFlags {
  port?: unknown;
  host?: unknown;
  name?: unknown;
  'log-messages'?: boolean;
  'buffer-size'?: unknown;
  'rate-burst'?: unknown;
  'rate-per-sec'?: unknown;
  'max-payload'?: unknown;
  'allow-unverified-keys'?: boolean;
  cert?: unknown;
  key?: unknown;
  plugin?: unknown;
}

export function registerServe(prog: Sade): void {
  booleanFlags('log-messages', 'allow-unverified-keys');
  stringFlags('host', 'name', 'cert', 'key', 'plugin');
  prog
    .command('serve')
    .describe('Run a relay. Prints `agentchat listening on ws://HOST:PORT` first; SIGINT/SIGTERM close it.')
    .option('-p, --port', `Port, 0 for any free one (env PORT, default ${DEFAULT_PORT})`)
    .option('-H, --host', `Address to bind (env HOST, default ${DEFAULT_CONFIG.host})`)
    .option('-n, --name', `Relay name in WELCOME and CHALLENGE (env SERVER_NAME, default ${DEFAULT_CONFIG.serverName})`)
    .option('--log-messages', 'Log message content (env LOG_MESSAGES=1)')
    .option('--buffer-size', `Channel messages replayed after JOINED (env MESSAGE_BUFFER_SIZE, default ${DEFAULT_CONFIG.historySize})`)
    .option('--rate-burst', `MSG burst per connection (env RATE_BURST, default ${DEFAULT_CONFIG.rateMsg.burst})`)
    .option('--rate-per-sec', `MSG refill per second (env RATE_PER_SEC, default ${DEFAULT_CONFIG.rateMsg.perSec})`)
    .option('--max-payload', `Largest frame in bytes (default ${DEFAULT_CONFIG.maxPayloadBytes})`)
    .option('--allow-unverified-keys', 'Skip proof of key possession (for 0.3.x clients)')
    .option('--cert', 'TLS certificate file (env TLS_CERT); with --key serves wss://')
    .option('--key', 'TLS private key file (env TLS_KEY)')
    .option('--plugin', 'ESM module whose default export is a Plugin, run after the core plugins (repeatable)')
    .example('serve --port 6667')
    .example('serve --port 0 --host 127.0.0.1 --plugin ./my-plugin.js')
    .action((flags: ServeFlags) => serve(flags));
}

/** The relay config these flags and this environment ask for; bad values are usage errors. */
export function serveConfig(flags: ServeFlags, env: NodeJS.ProcessEnv): Partial<RelayConfig> {
  const config: Partial<RelayConfig> = {};
  const port = pick(flags.port, env.PORT);
  if (port !== undefined) config.port = integer(port, '--port', 0, 65535);
  const host = pick(flags.host, env.HOST);
  if (host !== undefined) config.host = String(host);
  const name = pick(flags.name, env.SERVER_NAME);
  if (name !== undefined) config.serverName = String(name);
  if (flags['log-messages'] === true || truthy(env.LOG_MESSAGES)) config.logMessages = true;
  const bufferSize = pick(flags['buffer-size'], env.MESSAGE_BUFFER_SIZE);
  if (bufferSize !== undefined) config.historySize = integer(bufferSize, '--buffer-size', 0);
  const burst = pick(flags['rate-burst'], env.RATE_BURST);
  const perSec = pick(flags['rate-per-sec'], env.RATE_PER_SEC);
  if (burst !== undefined || perSec !== undefined) {
    config.rateMsg = {
      burst: burst === undefined ? DEFAULT_CONFIG.rateMsg.burst : integer(burst, '--rate-burst', 1),
      perSec: perSec === undefined ? DEFAULT_CONFIG.rateMsg.perSec : positive(perSec, '--rate-per-sec'),
    };
  }
  if (flags['max-payload'] !== undefined) config.maxPayloadBytes = integer(flags['max-payload'], '--max-payload', 1);
  if (flags['allow-unverified-keys'] === true) config.allowUnverifiedKeys = true;
  const cert = pick(flags.cert, env.TLS_CERT);
  const key = pick(flags.key, env.TLS_KEY);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('TLS needs both --cert and --key (or TLS_CERT and TLS_KEY)');
  if (cert !== undefined && key !== undefined) config.tls = { cert: String(cert), key: String(key) };
  return config;
}

/** Import each --plugin module; its default export must be a Plugin. */
export async function loadPlugins(paths: unknown): Promise<Plugin[]> {
  const list = paths === undefined ? [] : Array.isArray(paths) ? paths : [paths];
  const plugins: Plugin[] = [];
  for (const entry of list) {
    const path = resolve(String(entry));
    try {
      await access(path);
    } catch {
      throw new UsageError(`--plugin ${String(entry)}: no such file`);
    }
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    const plugin = mod.default;
    if (!isPlugin(plugin)) throw new Error(`--plugin ${String(entry)}: the default export must be a Plugin: { name, setup(relay) }`);
    plugins.push(plugin);
  }
  return plugins;
}

async function serve(flags: ServeFlags): Promise<number> {
  const config = serveConfig(flags, process.env);
  const extra = await loadPlugins(flags.plugin);
  const relay = createRelayWith((resolved) => [...corePlugins(resolved), ...extra], config);
  await relay.listen();
  // Handlers first: whoever reads the listening line may signal at once, and Node's default for SIGTERM is to die.
  const signalled = new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal('SIGINT'));
    process.once('SIGTERM', () => resolveSignal('SIGTERM'));
  });
  const host = relay.config.host.includes(':') ? `[${relay.config.host}]` : relay.config.host;
  process.stdout.write(`agentchat listening on ${relay.config.tls ? 'wss' : 'ws'}://${host}:${relay.port}\n`);

  const signal = await signalled;
  status(`agentchat: ${signal}, closing the relay`);
  setTimeout(() => {
    status(`agentchat: the relay did not close within ${HARD_EXIT_MS} ms; exiting anyway`);
    process.exit(EXIT.FAILED);
  }, HARD_EXIT_MS).unref();
  await relay.close();
  return EXIT.OK;
}

function isPlugin(value: unknown): value is Plugin {
  return typeof value === 'object' && value !== null
    && typeof (value as Plugin).name === 'string' && typeof (value as Plugin).setup === 'function';
}

/** The flag if given, else the environment variable if set and non-empty. */
function pick(flag: unknown, env: string | undefined): unknown {
  if (flag !== undefined) return flag;
  return env === undefined || env === '' ? undefined : env;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

function integer(value: unknown, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < min || n > max || String(value).trim() === '') {
    throw new UsageError(`${flag} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function positive(value: unknown, flag: string): number {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(n) || n <= 0 || String(value).trim() === '') throw new UsageError(`${flag} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}
