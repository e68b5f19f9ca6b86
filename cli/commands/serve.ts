/** `agentchat serve`: run a relay. Flags win over environment variables, which win over defaults. */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Sade } from 'sade';
import { DEFAULT_CONFIG, type AnyPlugin, type Plugin, type RelayConfig } from '../../kernel/index.js';
import { corePlugins, policy, type CorePluginOptions, type PolicyOptions } from '../../plugins/index.js';
import { TrustedProxies } from '../../plugins/limits/address.js';
import { LIMITS_DEFAULTS, type LimitsOptions } from '../../plugins/limits/index.js';
import { DEFAULT_POLICY_POINTS, POLICY_POINTS, type PolicyPoint } from '../../plugins/policy/index.js';
import { DEFAULT_PORT, normalizeRelayUrl } from '../../protocol/index.js';
import { createRelay, type RelayOptions } from '../../relay.js';
import { openStore, type OpenStoreOptions } from '../../store/index.js';
import { EXIT, UsageError } from '../errors.js';
import { parseNumber } from '../numbers.js';

/** A whole number from `min` (to `max`): serve's flags are counts, ports and milliseconds. */
const integer = (value: unknown, flag: string, min: number, max?: number): number => parseNumber(value, flag, { integer: true, min, max });
const positive = (value: unknown, flag: string): number => parseNumber(value, flag, { above: 0 });
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
  'plugin-options'?: unknown;
  'without-plugin'?: unknown;
  policy?: unknown;
  'policy-points'?: unknown;
  'policy-timeout'?: unknown;
  'hook-timeout'?: unknown;
  'coalesce-ms'?: unknown;
  'public-url'?: unknown;
  'data-dir'?: unknown;
  memory?: boolean;
  'metrics-token'?: unknown;
  'max-conns-per-ip'?: unknown;
  'conn-rate-per-ip'?: unknown;
  'max-sessions-per-ip'?: unknown;
  'trust-proxy'?: unknown;
}

/**
 * mri reads `--no-plugin X` as `plugin: false` and a stray X; serve's `--no-plugin`
 * is spelled `--without-plugin` for the parser (both work on the command line).
 */
export function serveArgv(argv: string[]): string[] {
  return argv.map((arg) => (arg === '--no-plugin' ? '--without-plugin' : arg.startsWith('--no-plugin=') ? `--without-plugin=${arg.slice(12)}` : arg));
}

export function registerServe(prog: Sade): void {
  booleanFlags('log-messages', 'allow-unverified-keys', 'memory');
  stringFlags('host', 'name', 'cert', 'key', 'plugin', 'plugin-options', 'without-plugin', 'policy', 'policy-points', 'public-url', 'data-dir', 'metrics-token', 'trust-proxy');
  prog
    .command('serve')
    .describe('Run a relay. Prints `agentchat listening on ws://HOST:PORT` first; SIGINT/SIGTERM close it.')
    .option('-p, --port', `Port, 0 for any free one (env PORT, default ${DEFAULT_PORT}); a port in use is an error`)
    .option('-H, --host', `Address to bind (env HOST, default ${DEFAULT_CONFIG.host})`)
    .option('-n, --name', `Relay name in WELCOME and CHALLENGE (env SERVER_NAME, default ${DEFAULT_CONFIG.serverName})`)
    .option('--data-dir', 'Where state is kept: one SQLite file, agentchat.db (env DATA_DIR, default ./data)')
    .option('--memory', 'Keep nothing on disk: every channel, invitation, proposal and message is gone on restart')
    .option('--metrics-token', 'GET /metrics answers only with Authorization: Bearer <token> (env METRICS_TOKEN); /healthz and /readyz stay open')
    .option('--log-messages', 'Log message content (env LOG_MESSAGES=1)')
    .option('--buffer-size', 'Channel messages replayed after JOINED (env MESSAGE_BUFFER_SIZE, default 20)')
    .option('--rate-burst', `MSG burst per connection (env RATE_BURST, default ${DEFAULT_CONFIG.rateMsg.burst})`)
    .option('--rate-per-sec', `MSG refill per second (env RATE_PER_SEC, default ${DEFAULT_CONFIG.rateMsg.perSec})`)
    .option('--max-payload', `Largest frame in bytes (default ${DEFAULT_CONFIG.maxPayloadBytes})`)
    .option('--allow-unverified-keys', 'Skip proof of key possession (for 0.3.x clients)')
    .option('--public-url', 'A URL clients reach this relay by (behind a proxy or a domain), which their proofs may name (env PUBLIC_URL; repeatable)')
    .option('--cert', 'TLS certificate file (env TLS_CERT); with --key serves wss://')
    .option('--key', 'TLS private key file (env TLS_KEY)')
    .option('--plugin', 'ESM module whose default export is a Plugin (or a function returning one), run after the core plugins (repeatable)')
    .option('--plugin-options', 'JSON options by plugin name, core or --plugin: \'{"history":{"size":50},"my-plugin":{"level":2}}\'')
    .option('--without-plugin', 'Leave out a core plugin by name, e.g. to replace identity; also spelled --no-plugin (repeatable)')
    .option('--policy', 'Command of a policy process that accepts or rejects decisions as JSON lines (docs/POLICY.md)')
    .option('--policy-points', `Decisions sent to the policy, of ${POLICY_POINTS.join(',')} (default ${DEFAULT_POLICY_POINTS.join(',')})`)
    .option('--policy-timeout', 'ms the policy has to answer before the decision fails closed (default 2000)')
    .option('--hook-timeout', `ms an async plugin hook has before it fails closed (default ${DEFAULT_CONFIG.hookTimeoutMs})`)
    .option('--coalesce-ms', 'Busy channels hold their frames up to this many ms and write them to each member together: less CPU per delivery, up to this much more latency there (default 0: off)')
    .option('--max-conns-per-ip', `Open connections per address, IPv6 per /64; 0 for no limit (default ${LIMITS_DEFAULTS.maxConnsPerIp})`)
    .option('--conn-rate-per-ip', `New connections per second per address, burst twice that; 0 for no limit (default ${LIMITS_DEFAULTS.connRatePerIp})`)
    .option('--max-sessions-per-ip', `Identified sessions per address; 0 for no limit (default ${LIMITS_DEFAULTS.maxSessionsPerIp})`)
    .option('--trust-proxy', 'Proxy CIDRs whose X-Forwarded-For names the client, e.g. 10.0.0.0/8 (comma-separated or repeated)')
    .example('serve --port 6667')
    .example('serve --port 0 --host 127.0.0.1 --plugin ./my-plugin.js --plugin-options \'{"my-plugin":{"level":2}}\'')
    .example('serve --policy "python3 examples/policy.py" --policy-points identify,join')
    .action((flags: ServeFlags) => serve(flags));
}

/** What `createRelay` gets from these flags and this environment; bad values are usage errors. */
export interface ServeOptions {
  config: Partial<RelayConfig>;
  pluginOptions: CorePluginOptions & Record<string, unknown>;
  without: string[];
  /** Where the store lives: `memory`, or a data dir. */
  store: OpenStoreOptions;
}

export function serveOptions(flags: ServeFlags, env: NodeJS.ProcessEnv): ServeOptions {
  const config: Partial<RelayConfig> = {};
  const port = pick(flags.port, env.PORT);
  if (port !== undefined) config.port = integer(port, '--port', 0, 65535);
  const host = pick(flags.host, env.HOST);
  if (host !== undefined) config.host = String(host);
  const name = pick(flags.name, env.SERVER_NAME);
  if (name !== undefined) config.serverName = String(name);
  const burst = pick(flags['rate-burst'], env.RATE_BURST);
  const perSec = pick(flags['rate-per-sec'], env.RATE_PER_SEC);
  if (burst !== undefined || perSec !== undefined) {
    config.rateMsg = {
      burst: burst === undefined ? DEFAULT_CONFIG.rateMsg.burst : integer(burst, '--rate-burst', 1),
      perSec: perSec === undefined ? DEFAULT_CONFIG.rateMsg.perSec : positive(perSec, '--rate-per-sec'),
    };
  }
  if (flags['max-payload'] !== undefined) config.maxPayloadBytes = integer(flags['max-payload'], '--max-payload', 1);
  if (flags['hook-timeout'] !== undefined) config.hookTimeoutMs = integer(flags['hook-timeout'], '--hook-timeout', 1);
  if (flags['coalesce-ms'] !== undefined) config.coalesceMs = integer(flags['coalesce-ms'], '--coalesce-ms', 0);
  const cert = pick(flags.cert, env.TLS_CERT);
  const key = pick(flags.key, env.TLS_KEY);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('TLS needs both --cert and --key (or TLS_CERT and TLS_KEY)');
  if (cert !== undefined && key !== undefined) config.tls = { cert: String(cert), key: String(key) };

  // Flags for core plugins are shorthands for their options; --plugin-options is applied over them.
  const pluginOptions: ServeOptions['pluginOptions'] = {};
  if (flags['log-messages'] === true || truthy(env.LOG_MESSAGES)) pluginOptions.logging = { logMessages: true };
  const bufferSize = pick(flags['buffer-size'], env.MESSAGE_BUFFER_SIZE);
  if (bufferSize !== undefined) pluginOptions.history = { size: integer(bufferSize, '--buffer-size', 0) };
  const identity: NonNullable<CorePluginOptions['identity']> = {};
  if (flags['allow-unverified-keys'] === true) identity.allowUnverifiedKeys = true;
  const publicUrls = list(pick(flags['public-url'], env.PUBLIC_URL)).map(String);
  for (const url of publicUrls) {
    try {
      normalizeRelayUrl(url);
    } catch (err) {
      throw new UsageError(`--public-url ${(err as Error).message}`);
    }
  }
  if (publicUrls.length > 0) {
    identity.publicUrls = publicUrls;
    pluginOptions.health = { publicUrls };
  }
  const metricsToken = pick(flags['metrics-token'], env.METRICS_TOKEN);
  if (metricsToken !== undefined) pluginOptions.metrics = { token: String(metricsToken) };
  if (Object.keys(identity).length > 0) pluginOptions.identity = identity;
  const limitOptions = limitFlags(flags);
  if (limitOptions !== null) pluginOptions.limits = limitOptions;
  for (const [plugin, options] of Object.entries(parsePluginOptions(flags['plugin-options']))) {
    pluginOptions[plugin] = { ...(pluginOptions[plugin] as object | undefined), ...options };
  }
  const policyOptions = policyFlags(flags);
  if (policyOptions !== null) pluginOptions.policy = { ...policyOptions, ...(pluginOptions.policy as object | undefined) };

  const without = list(flags['without-plugin']).map(String);
  const core = corePlugins().map((p) => p.name);
  for (const name of without) {
    if (!core.includes(name)) throw new UsageError(`--no-plugin ${name}: there is no such core plugin; the core plugins are ${core.join(', ')}`);
  }
  if (flags.memory === true && flags['data-dir'] !== undefined) throw new UsageError('--memory keeps nothing on disk, so it takes no --data-dir: choose one');
  const dataDir = pick(flags['data-dir'], env.DATA_DIR);
  const store: OpenStoreOptions = flags.memory === true ? { memory: true } : { dataDir: dataDir === undefined ? 'data' : String(dataDir) };
  return { config, pluginOptions, without, store };
}

function parsePluginOptions(value: unknown): Record<string, Record<string, unknown>> {
  if (value === undefined) return {};
  let parsed: unknown;
  const text = list(value).at(-1);
  try {
    parsed = JSON.parse(String(text));
  } catch {
    throw new UsageError(`--plugin-options must be JSON like '{"history":{"size":50}}', got ${JSON.stringify(text)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('--plugin-options must be a JSON object keyed by plugin name, like \'{"history":{"size":50}}\'');
  }
  for (const [name, options] of Object.entries(parsed)) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new UsageError(`--plugin-options: the options of "${name}" must be a JSON object`);
    }
  }
  return parsed as Record<string, Record<string, unknown>>;
}

function limitFlags(flags: ServeFlags): LimitsOptions | null {
  const options: LimitsOptions = {};
  if (flags['max-conns-per-ip'] !== undefined) options.maxConnsPerIp = integer(flags['max-conns-per-ip'], '--max-conns-per-ip', 0);
  if (flags['conn-rate-per-ip'] !== undefined) options.connRatePerIp = integer(flags['conn-rate-per-ip'], '--conn-rate-per-ip', 0);
  if (flags['max-sessions-per-ip'] !== undefined) options.maxSessionsPerIp = integer(flags['max-sessions-per-ip'], '--max-sessions-per-ip', 0);
  if (flags['trust-proxy'] !== undefined) {
    const cidrs = list(flags['trust-proxy']).flatMap((v) => String(v).split(',')).map((c) => c.trim()).filter((c) => c !== '');
    if (cidrs.length === 0) throw new UsageError('--trust-proxy needs the proxies\' addresses or CIDRs, e.g. --trust-proxy 10.0.0.0/8');
    for (const cidr of cidrs) {
      try {
        new TrustedProxies([cidr]);
      } catch {
        throw new UsageError(`--trust-proxy ${cidr}: not an address or CIDR; write e.g. 10.0.0.0/8, 192.168.1.5 or ::1/128`);
      }
    }
    options.trustProxy = cidrs;
  }
  return Object.keys(options).length > 0 ? options : null;
}

function policyFlags(flags: ServeFlags): PolicyOptions | null {
  if (flags.policy === undefined) {
    if (flags['policy-points'] !== undefined || flags['policy-timeout'] !== undefined) throw new UsageError('--policy-points and --policy-timeout need --policy "command"');
    return null;
  }
  const command = String(flags.policy).trim();
  if (command === '') throw new UsageError('--policy needs a command, e.g. --policy "python3 examples/policy.py"');
  const options: PolicyOptions = { command };
  if (flags['policy-points'] !== undefined) {
    const points = String(flags['policy-points']).split(',').map((p) => p.trim()).filter((p) => p !== '');
    for (const point of points) {
      if (!(POLICY_POINTS as readonly string[]).includes(point)) throw new UsageError(`--policy-points: unknown point "${point}"; choose from ${POLICY_POINTS.join(',')}`);
    }
    options.points = points as PolicyPoint[];
  }
  if (flags['policy-timeout'] !== undefined) options.timeoutMs = integer(flags['policy-timeout'], '--policy-timeout', 1);
  return options;
}

/** Import each --plugin module; its default export must be a Plugin, or a function that returns one. */
export async function loadPlugins(paths: unknown): Promise<AnyPlugin[]> {
  const plugins: AnyPlugin[] = [];
  for (const entry of list(paths)) {
    const path = resolve(String(entry));
    try {
      await access(path);
    } catch {
      throw new UsageError(`--plugin ${String(entry)}: no such file`);
    }
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    const plugin = typeof mod.default === 'function' ? (mod.default as () => unknown)() : mod.default;
    if (!isPlugin(plugin)) throw new Error(`--plugin ${String(entry)}: the default export must be a Plugin { name, setup(relay, options) } or a function returning one`);
    plugins.push(plugin);
  }
  return plugins;
}

/** The relay `serve` runs: core plugins (less --no-plugin), --plugin modules, then the policy. */
export async function serveRelayOptions(flags: ServeFlags, env: NodeJS.ProcessEnv): Promise<RelayOptions> {
  const { config, pluginOptions, without, store } = serveOptions(flags, env);
  const extra = await loadPlugins(flags.plugin);
  if (pluginOptions.policy !== undefined) extra.push(policy());
  // Opened last: a usage error above never touches the data dir.
  return { ...config, pluginOptions, without, extraPlugins: extra, store: openStore(store) };
}

async function serve(flags: ServeFlags): Promise<number> {
  const relay = createRelay(await serveRelayOptions(flags, process.env));
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

function list(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The flag if given, else the environment variable if set and non-empty. */
function pick(flag: unknown, env: string | undefined): unknown {
  if (flag !== undefined) return flag;
  return env === undefined || env === '' ? undefined : env;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

