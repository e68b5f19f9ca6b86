/** `agentchat serve`: run a relay. Defaults < config file < environment variables < flags (cli/config.ts). */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Sade } from 'sade';
import { DEFAULT_CONFIG, LOG_LEVELS, type AnyPlugin, type LogLevel, type Plugin, type RelayConfig } from '../../kernel/index.js';
import { policy, web, type CorePluginOptions } from '../../plugins/index.js';
import { HISTORY_DEFAULTS } from '../../plugins/history/index.js';
import { LIMITS_DEFAULTS } from '../../plugins/limits/index.js';
import { DEFAULT_POLICY_POINTS, POLICY_POINTS } from '../../plugins/policy/index.js';
import { DEFAULT_PORT } from '../../protocol/index.js';
import { createRelay, type RelayOptions } from '../../relay.js';
import { openStore, type OpenStoreOptions } from '../../store/index.js';
import { CONFIG_ENV, defaultConfig, loadConfigFile, mergeLayers, POLICY_DEFAULTS, setPath, validateLayer, type ServeConfig } from '../config.js';
import { EXIT, UsageError } from '../errors.js';
import { booleanFlags, stringFlags } from '../flags.js';
import { publicKeyArg } from '../moderation-flags.js';
import { parseNumber } from '../numbers.js';
import { parseWorkers, supervise, WORKER_PORT_ENV, workerArgs } from '../workers.js';
import { status } from '../output.js';

/** Time the relay gets to close after SIGINT/SIGTERM before the process exits anyway. */
const HARD_EXIT_MS = 5_000;

/** One serve flag: where its value goes in the config (cli/config.ts), the variable that may set it, its help. */
export interface ServeFlag {
  flag: string;
  short?: string;
  /** The environment variable for containers: above the config file, below the flag. */
  env?: string;
  /** Dotted path of the setting in the config file's shape. */
  path: string;
  /** How the text is read: a number, text, a switch, a repeatable list, a repeatable comma-separated list; `meta` flags set no setting. */
  kind: 'number' | 'text' | 'boolean' | 'list' | 'csv' | 'meta';
  help: string;
  /** The name errors show, when users type another spelling (mri reads `--no-X` as a negation). */
  says?: string;
}

// Every serve flag, in --help order. A new flag is one line here (and its setting one line in cli/config.ts).
export const SERVE_FLAGS: readonly ServeFlag[] = [
  { flag: 'config', env: CONFIG_ENV, path: '', kind: 'meta', help: 'A config file, JSON or YAML (.yaml/.yml), with any setting below; env vars and flags override it' },
  { flag: 'print-config', path: '', kind: 'meta', help: 'Print the effective config as JSON (defaults, then file, env, flags) and exit without listening' },
  { flag: 'port', short: 'p', env: 'PORT', path: 'port', kind: 'number', help: `Port, 0 for any free one (default ${DEFAULT_PORT}); a port in use is an error` },
  { flag: 'host', short: 'H', env: 'HOST', path: 'host', kind: 'text', help: `Address to bind (default ${DEFAULT_CONFIG.host})` },
  { flag: 'name', short: 'n', env: 'SERVER_NAME', path: 'serverName', kind: 'text', help: `Relay name in WELCOME and CHALLENGE (default ${DEFAULT_CONFIG.serverName})` },
  { flag: 'log-level', env: 'LOG_LEVEL', path: 'logLevel', kind: 'text', help: `Least severe log lines written: ${LOG_LEVELS.join(', ')} (default info)` },
  { flag: 'data-dir', env: 'DATA_DIR', path: 'dataDir', kind: 'text', help: 'Where state is kept: one SQLite file, agentchat.db (default ./data)' },
  { flag: 'memory', path: 'memory', kind: 'boolean', help: 'Keep nothing on disk: every channel, invitation, proposal and message is gone on restart' },
  { flag: 'redis', env: 'REDIS_URL', path: 'redis', kind: 'text', help: 'Join the cluster of relays on this Redis, redis://host:port or rediss://…: state lives there, not in --data-dir' },
  { flag: 'workers', path: 'workers', kind: 'text', help: 'Run N relay processes on this one port, or auto for one per core; needs --redis' },
  { flag: 'web', path: 'web', kind: 'boolean', help: 'Serve a live page at GET / for browsers (channels, messages, presence, posting) and GET /web/stats; JSON clients of / are answered as before' },
  { flag: 'metrics-token', env: 'METRICS_TOKEN', path: 'pluginOptions.metrics.token', kind: 'text', help: 'GET /metrics answers only with Authorization: Bearer <token>; /healthz and /readyz stay open' },
  { flag: 'log-messages', env: 'LOG_MESSAGES', path: 'pluginOptions.logging.logMessages', kind: 'boolean', help: 'Log message content' },
  { flag: 'buffer-size', env: 'MESSAGE_BUFFER_SIZE', path: 'pluginOptions.history.size', kind: 'number', help: `Channel messages replayed after JOINED (default ${HISTORY_DEFAULTS.size})` },
  { flag: 'rate-burst', env: 'RATE_BURST', path: 'rateMsg.burst', kind: 'number', help: `MSG burst per connection (default ${DEFAULT_CONFIG.rateMsg.burst})` },
  { flag: 'rate-per-sec', env: 'RATE_PER_SEC', path: 'rateMsg.perSec', kind: 'number', help: `MSG refill per second (default ${DEFAULT_CONFIG.rateMsg.perSec})` },
  { flag: 'max-payload', path: 'maxPayloadBytes', kind: 'number', help: `Largest frame in bytes (default ${DEFAULT_CONFIG.maxPayloadBytes})` },
  { flag: 'allow-unverified-keys', path: 'pluginOptions.identity.allowUnverifiedKeys', kind: 'boolean', help: 'Skip proof of key possession (for 0.3.x clients)' },
  { flag: 'public-url', env: 'PUBLIC_URL', path: 'publicUrls', kind: 'list', help: 'A URL clients reach this relay by (behind a proxy or a domain), which their proofs may name (repeatable)' },
  { flag: 'cert', env: 'TLS_CERT', path: 'tls.cert', kind: 'text', help: 'TLS certificate file; with --key serves wss://' },
  { flag: 'key', env: 'TLS_KEY', path: 'tls.key', kind: 'text', help: 'TLS private key file' },
  { flag: 'plugin', path: 'plugins', kind: 'list', help: 'ESM module whose default export is a Plugin (or a function returning one), run after the core plugins (repeatable)' },
  { flag: 'plugin-options', path: 'pluginOptions', kind: 'meta', help: 'JSON options by plugin name, core or --plugin, over the config file\'s pluginOptions: \'{"history":{"size":50}}\'' },
  { flag: 'without-plugin', says: 'no-plugin', path: 'without', kind: 'list', help: 'Leave out a core plugin by name, e.g. to replace identity; also spelled --no-plugin (repeatable)' },
  { flag: 'policy', path: 'pluginOptions.policy.command', kind: 'text', help: 'Command of a policy process that accepts or rejects decisions as JSON lines (docs/POLICY.md)' },
  { flag: 'policy-points', path: 'pluginOptions.policy.points', kind: 'csv', help: `Decisions sent to the policy, of ${POLICY_POINTS.join(',')} (default ${DEFAULT_POLICY_POINTS.join(',')})` },
  { flag: 'policy-timeout', path: 'pluginOptions.policy.timeoutMs', kind: 'number', help: `ms the policy has to answer before the decision fails closed (default ${POLICY_DEFAULTS.timeoutMs})` },
  { flag: 'hook-timeout', path: 'hookTimeoutMs', kind: 'number', help: `ms an async plugin hook has before it fails closed (default ${DEFAULT_CONFIG.hookTimeoutMs})` },
  { flag: 'coalesce-ms', path: 'coalesceMs', kind: 'number', help: 'Busy channels hold their frames up to this many ms and write them to each member together: less CPU per delivery, up to this much more latency there (default 0: off)' },
  { flag: 'max-conns-per-ip', path: 'pluginOptions.limits.maxConnsPerIp', kind: 'number', help: `Open connections per address, IPv6 per /64; 0 for no limit (default ${LIMITS_DEFAULTS.maxConnsPerIp})` },
  { flag: 'conn-rate-per-ip', path: 'pluginOptions.limits.connRatePerIp', kind: 'number', help: `New connections per second per address, burst twice that; 0 for no limit (default ${LIMITS_DEFAULTS.connRatePerIp})` },
  { flag: 'max-sessions-per-ip', path: 'pluginOptions.limits.maxSessionsPerIp', kind: 'number', help: `Identified sessions per address; 0 for no limit (default ${LIMITS_DEFAULTS.maxSessionsPerIp})` },
  { flag: 'trust-proxy', path: 'pluginOptions.limits.trustProxy', kind: 'csv', help: 'Proxy CIDRs whose X-Forwarded-For names the client, e.g. 10.0.0.0/8 (comma-separated or repeated)' },
  { flag: 'admin-key', path: 'pluginOptions.moderation.adminKeys', kind: 'list', help: 'An admin public key, PEM text or a file (PEM, or an identity file): its verified sessions may kick, ban and mute (agentchat admin; repeatable)' },
  { flag: 'verified-only-channels', path: 'pluginOptions.moderation.verifiedOnlyChannels', kind: 'boolean', help: 'Only agents that proved a key may create channels' },
  { flag: 'verified-only-dms', path: 'pluginOptions.moderation.verifiedOnlyDms', kind: 'boolean', help: 'Only agents that proved a key may send direct messages' },
  // Seconds on the command line, ms in the plugin's options (pluginOptions.moderation.minKeyAgeMs): converted in serveOptions.
  { flag: 'min-key-age', path: '', kind: 'meta', help: 'Seconds a key must have been known here before it may write; agents without a key are read-only too (default 0: off)' },
];

/** The parsed command line: values by flag name, as the parser gives them (text, numbers, true, or arrays when repeated). */
export type ServeFlags = Readonly<Record<string, unknown>>;

/**
 * mri reads `--no-plugin X` as `plugin: false` and a stray X; serve's `--no-plugin`
 * is spelled `--without-plugin` for the parser (both work on the command line).
 */
export function serveArgv(argv: string[]): string[] {
  return argv.map((arg) => (arg === '--no-plugin' ? '--without-plugin' : arg.startsWith('--no-plugin=') ? `--without-plugin=${arg.slice(12)}` : arg));
}

export function registerServe(prog: Sade): void {
  booleanFlags('print-config', ...SERVE_FLAGS.filter((f) => f.kind === 'boolean').map((f) => f.flag));
  stringFlags(...SERVE_FLAGS.filter((f) => f.kind !== 'boolean' && f.kind !== 'number' && f.flag !== 'print-config').map((f) => f.flag));
  prog
    .command('serve')
    .describe('Run a relay. Prints `agentchat listening on ws://HOST:PORT` first; SIGINT/SIGTERM close it.');
  for (const f of SERVE_FLAGS) {
    prog.option(`${f.short ? `-${f.short}, ` : ''}--${f.flag}`, f.env ? `${f.help} (env ${f.env})` : f.help);
  }
  prog
    .example('serve --port 6667')
    .example('serve --config agentchat.yaml --log-level debug')
    .example('serve --port 0 --host 127.0.0.1 --plugin ./my-plugin.js --plugin-options \'{"my-plugin":{"level":2}}\'')
    .example('serve --policy "python3 examples/policy.py" --policy-points identify,join')
    .action((flags: ServeFlags) => serve(flags));
}

/** What `createRelay` gets from these flags and this environment; bad values are usage errors. */
export interface ServeOptions {
  config: Partial<RelayConfig>;
  pluginOptions: CorePluginOptions & Record<string, unknown>;
  without: string[];
  /** Where the store lives: `memory`, a data dir, or a cluster's Redis. */
  store: OpenStoreOptions;
  /** The cluster's Redis (--redis). */
  redis?: string;
  /** --workers, as given (a count or auto). */
  workers?: string | number | boolean;
  /** --web: the live page. */
  web?: boolean;
  /** --plugin modules, as given. */
  plugins: string[];
  logLevel?: LogLevel;
}

/**
 * The one merge of serve's settings: defaults < config file < environment < flags
 * (`--plugin-options` over the flags it shares a plugin with). Each layer is validated
 * on its own, so a bad value names the file field, variable or flag it came from.
 */
export function serveConfig(flags: ServeFlags, env: NodeJS.ProcessEnv): ServeConfig {
  const file = pick(flags.config, env[CONFIG_ENV]);
  const fromFile = file === undefined ? {} : loadConfigFile(String(file));
  const fromEnv = layerOf(SERVE_FLAGS.filter((f) => f.env !== undefined), (f) => pick(undefined, env[f.env as string]), (f) => f.env as string);
  const fromFlags = layerOf(SERVE_FLAGS, (f) => flags[f.flag], (f) => `--${f.says ?? f.flag}`);
  const fromJson = flags['plugin-options'] === undefined ? {}
    : validateLayer({ pluginOptions: parsePluginOptions(flags['plugin-options']) }, (path) => `--plugin-options: ${path.slice(1).join('.')}`);
  if (fromFile.memory === true && fromFile.dataDir !== undefined) throw new UsageError(`${String(file)}: memory keeps nothing on disk, so it takes no dataDir: choose one`);
  if (fromFlags.memory === true && fromFlags.dataDir !== undefined) throw new UsageError('--memory keeps nothing on disk, so it takes no --data-dir: choose one');
  if (fromFlags.redis !== undefined && (fromFlags.memory === true || fromFlags.dataDir !== undefined)) {
    throw new UsageError('--redis keeps the state in Redis, so it takes no --memory or --data-dir: choose one');
  }
  const layers = [fromFile, fromEnv, fromFlags, fromJson];
  const merged = mergeLayers(...layers);
  // The store is one choice: the highest layer that names memory or a data dir decides.
  const chosen = layers.findLast((l) => l.memory === true || l.dataDir !== undefined);
  if (chosen?.memory === true) delete merged.dataDir;
  else if (merged.memory === true) merged.memory = false;

  if (merged.tls && (merged.tls.cert === undefined) !== (merged.tls.key === undefined)) {
    throw new UsageError('TLS needs both --cert and --key (or TLS_CERT and TLS_KEY, or tls.cert and tls.key in the config file)');
  }
  const policyOptions = merged.pluginOptions?.policy;
  if (policyOptions !== undefined && policyOptions.command === undefined) {
    throw new UsageError('--policy-points and --policy-timeout (pluginOptions.policy) need --policy "command"');
  }
  return merged;
}

export function serveOptions(flags: ServeFlags, env: NodeJS.ProcessEnv): ServeOptions {
  const { logLevel, dataDir, memory, redis, workers, web: page = false, publicUrls = [], plugins = [], without = [], pluginOptions = {}, ...kernel } = serveConfig(flags, env);
  const config = { ...kernel } as Partial<RelayConfig>;
  // A bucket given in part keeps the default of the other half.
  for (const name of ['rateMsg', 'rateOther', 'rateJoin'] as const) {
    if (kernel[name] !== undefined) config[name] = { ...DEFAULT_CONFIG[name], ...kernel[name] };
  }
  const options = { ...pluginOptions } as ServeOptions['pluginOptions'];
  // Admin keys are PEM text or key files, from any layer: each becomes its canonical PEM here, a usage error if it is neither.
  const moderation = { ...options.moderation };
  if (moderation.adminKeys !== undefined) moderation.adminKeys = moderation.adminKeys.map((k) => publicKeyArg(String(k), '--admin-key'));
  if (flags['min-key-age'] !== undefined) moderation.minKeyAgeMs = parseNumber(flags['min-key-age'], '--min-key-age', { min: 0, unit: 'seconds' }) * 1000;
  if (Object.keys(moderation).length > 0) options.moderation = moderation;
  if (publicUrls.length > 0) {
    options.identity = { ...options.identity, publicUrls };
    options.health = { ...options.health, publicUrls };
  }
  // In a cluster the state lives in Redis: a data dir (say DATA_DIR of a container) is not used.
  const store: OpenStoreOptions = redis !== undefined ? { redis } : memory === true ? { memory: true } : { dataDir: dataDir ?? 'data' };
  return {
    config, pluginOptions: options, without, store, plugins, ...(page ? { web: true } : {}),
    ...(logLevel === undefined ? {} : { logLevel }), ...(redis === undefined ? {} : { redis }), ...(workers === undefined ? {} : { workers }),
  };
}

/** `--print-config`: every setting the relay would run with, defaults filled in; the metrics token is not shown. */
export function printableConfig(config: ServeConfig): Record<string, unknown> {
  const defaults = defaultConfig();
  if (config.pluginOptions?.policy !== undefined) defaults.pluginOptions = { ...defaults.pluginOptions, policy: { ...POLICY_DEFAULTS, points: [...POLICY_DEFAULTS.points] } };
  const effective = mergeLayers<ServeConfig>(defaults, config);
  if (effective.memory === true) delete effective.dataDir;
  if (effective.pluginOptions?.metrics?.token !== undefined) effective.pluginOptions.metrics.token = '(set; not shown)';
  return JSON.parse(JSON.stringify(effective)) as Record<string, unknown>;
}

/** One layer of settings from flags or variables: each value read as its kind, set at its path, then validated. */
function layerOf(specs: readonly ServeFlag[], read: (f: ServeFlag) => unknown, name: (f: ServeFlag) => string): ServeConfig {
  const raw: Record<string, unknown> = {};
  const given = new Map<string, { name: string; value: unknown }>();
  for (const f of specs) {
    const value = read(f);
    if (value === undefined || f.kind === 'meta') continue;
    setPath(raw, f.path, valueOf(f, value));
    given.set(f.path, { name: name(f), value });
  }
  // An error's path is the setting's, or inside it (a list's element): the longest path given that holds it.
  const setter = (path: ReadonlyArray<PropertyKey>) => {
    const dotted = path.join('.');
    let best: { name: string; value: unknown } | undefined;
    let bestLength = -1;
    for (const [p, g] of given) {
      if ((dotted === p || dotted.startsWith(`${p}.`)) && p.length > bestLength) [best, bestLength] = [g, p.length];
    }
    return best;
  };
  return validateLayer(raw, (path) => setter(path)?.name ?? path.join('.'), (path) => setter(path)?.value);
}

/** Text as its kind: numbers and switches parsed, lists split; what does not parse is left for the schema to refuse. */
function valueOf(f: ServeFlag, value: unknown): unknown {
  switch (f.kind) {
    case 'number': {
      if (typeof value !== 'string') return value;
      const trimmed = value.trim();
      return trimmed === '' ? Number.NaN : Number(trimmed);
    }
    case 'boolean':
      if (typeof value !== 'string') return value;
      return /^(1|true|yes|on)$/i.test(value) ? true : /^(0|false|no|off)$/i.test(value) ? false : value;
    case 'list':
      return list(value).map(String);
    case 'csv':
      return list(value).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter((v) => v !== '');
    default:
      return String(list(value).at(-1));
  }
}

function parsePluginOptions(value: unknown): Record<string, Record<string, unknown>> {
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

/** The relay `serve` runs: core plugins (less --no-plugin), the page, --plugin modules, then the policy. */
export async function serveRelayOptions(options: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<RelayOptions> {
  const { config, pluginOptions, without, store, plugins, logLevel, redis } = options;
  const extra = await loadPlugins(plugins);
  if (options.web) extra.unshift(web());
  if (pluginOptions.policy !== undefined) extra.push(policy());
  // A worker of `serve --workers` shares the supervisor's port on purpose.
  const worker = env[WORKER_PORT_ENV] === undefined ? {} : { port: Number(env[WORKER_PORT_ENV]), sharePort: true };
  // Opened last: a usage error above never touches the data dir.
  return { ...config, ...worker, logLevel, pluginOptions, without, extraPlugins: extra, store: openStore(store), ...(redis === undefined ? {} : { redis }) };
}

async function serve(flags: ServeFlags): Promise<number> {
  if (flags['print-config'] === true) {
    process.stdout.write(JSON.stringify(printableConfig(serveConfig(flags, process.env)), null, 2) + '\n');
    return EXIT.OK;
  }
  const options = serveOptions(flags, process.env);
  const worker = process.env[WORKER_PORT_ENV] !== undefined;
  if (options.workers !== undefined && !worker) return serveWorkers(options);
  const relay = createRelay(await serveRelayOptions(options));
  await relay.listen();
  // A worker whose supervisor is gone (even kill -9: the IPC channel closes) stops like on SIGTERM.
  if (worker) process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
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

/** `serve --workers N`: every setting checked once here, then N workers on one port under a supervisor. */
async function serveWorkers(options: ServeOptions): Promise<number> {
  const count = parseWorkers(options.workers);
  if (options.redis === undefined) {
    throw new UsageError('--workers needs --redis URL: relays sharing a port without Redis would split the agents between relays that cannot see each other');
  }
  const { config } = options;
  return supervise({ count, host: config.host ?? DEFAULT_CONFIG.host, port: config.port ?? DEFAULT_PORT, args: workerArgs(process.argv.slice(process.argv.indexOf('serve', 2) + 1)), cli: process.argv[1] });
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
