/**
 * The config of `agentchat serve`: one schema for the config file (`--config`, JSON or
 * YAML), the environment and the flags, so each is validated the same way and every
 * bad field is one line naming where it came from. The shape is createRelay's options
 * (kernel bounds at the top level, `pluginOptions` by plugin name) plus what only the
 * CLI decides (store, log level, plugin modules, public URLs).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_CONFIG, LOG_LEVELS } from '../kernel/index.js';
import { corePlugins } from '../plugins/index.js';
import { CHANNELS_DEFAULTS } from '../plugins/channels/index.js';
import { HISTORY_DEFAULTS } from '../plugins/history/index.js';
import { IDENTITY_DEFAULTS } from '../plugins/identity/index.js';
import { TrustedProxies } from '../plugins/limits/address.js';
import { LIMITS_DEFAULTS } from '../plugins/limits/index.js';
import { POLICY_DEFAULTS, POLICY_POINTS } from '../plugins/policy/index.js';
import { PROPOSALS_DEFAULTS } from '../plugins/proposals/index.js';
import { normalizeRelayUrl } from '../protocol/index.js';
import { UsageError } from './errors.js';
import { describeNumber } from './numbers.js';

/** The environment variable naming a config file when `--config` is not given (containers). */
export const CONFIG_ENV = 'AGENTCHAT_CONFIG';
/** The core plugins, by name; `without` may name these only. */
export const CORE_PLUGINS: readonly string[] = corePlugins().map((p) => p.name);

// Field rules. A rule's message starts with "must": the report appends ", got <value>".
const int = (min: number, max?: number) => {
  const error = `must be ${describeNumber({ integer: true, min, max })}`;
  const n = z.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? n : n.max(max, { error });
};
const count = int(0);
const ms = int(1);
const positive = z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' });
const text = z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' });
const flag = z.boolean({ error: 'must be true or false' });
const texts = z.array(text, { error: 'must be a list of strings' });
/** A rule checked by a function whose refusal is the whole message (it quotes the value). */
const checked = (check: (value: string) => string | null) => text.superRefine((value, ctx) => {
  const problem = check(value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: value });
});
const relayUrl = checked((url) => {
  try {
    normalizeRelayUrl(url);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
});
const cidr = checked((value) => {
  try {
    new TrustedProxies([value]);
    return null;
  } catch {
    return `${value}: not an address or CIDR; write e.g. 10.0.0.0/8, 192.168.1.5 or ::1/128`;
  }
});
const policyPoint = checked((point) => ((POLICY_POINTS as readonly string[]).includes(point) ? null : `unknown point "${point}"; choose from ${POLICY_POINTS.join(',')}`));
const redisUrl = checked((value) => {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // refused below
  }
  return url !== null && (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
    ? null : 'must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379';
});
const corePlugin = checked((name) => (CORE_PLUGINS.includes(name) ? null : `${name}: there is no such core plugin; the core plugins are ${CORE_PLUGINS.join(', ')}`));

/** The known fields of each section, by path, for "unknown field" lines. */
const FIELDS = new Map<string, string[]>();
/** A section of the file: every field optional, unknown fields refused. */
function section<S extends Record<string, z.ZodType>>(path: string, shape: S) {
  FIELDS.set(path, Object.keys(shape));
  const optional = Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, v.optional()])) as { [K in keyof S]: z.ZodOptional<S[K]> };
  return z.strictObject(optional, { error: 'must be a mapping of fields' });
}
const bucket = (path: string) => section(path, { burst: int(1), perSec: positive });

// One line per setting. A new serve setting is one line here (and its flag one line in serve.ts).
export const configSchema = section('', {
  // The kernel (kernel/config.ts RelayConfig; createRelay's options).
  port: int(0, 65535),
  host: text,
  serverName: text,
  tls: section('tls', { cert: text, key: text }).nullable(),
  maxPayloadBytes: int(1),
  maxContentChars: int(1),
  maxContentBytes: int(1),
  maxChannels: count,
  maxChannelsPerAgent: count,
  maxSessions: count,
  rateMsg: bucket('rateMsg'),
  rateOther: bucket('rateOther'),
  rateJoin: bucket('rateJoin'),
  presenceBatchAbove: count,
  presenceBatchMs: ms,
  floodMaxRefusals: count,
  floodWindowMs: ms,
  slowConsumerBytes: int(1),
  slowConsumerCheckMs: ms,
  idleTimeoutSec: count,
  hookTimeoutMs: ms,
  coalesceMs: count,
  maxHeldFrames: int(1),
  shutdownTimeoutMs: ms,
  // What the CLI decides.
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  dataDir: text,
  memory: flag,
  redis: redisUrl,
  // A count or auto: checked where the workers start (cli/workers.ts parseWorkers).
  workers: z.union([z.string(), z.number(), z.boolean()]),
  web: flag,
  publicUrls: z.array(relayUrl, { error: 'must be a list of ws:// or wss:// URLs' }),
  plugins: texts,
  without: z.array(corePlugin, { error: 'must be a list of core plugin names' }),
  // Each plugin's options (plugins/*/index.ts); options of a --plugin module pass through to it.
  pluginOptions: section('pluginOptions', {
    limits: section('pluginOptions.limits', {
      maxConnsPerIp: count, connRatePerIp: count, maxSessionsPerIp: count, logIntervalMs: ms,
      trustProxy: z.array(cidr, { error: 'must be a list of addresses or CIDRs' }),
    }),
    logging: section('pluginOptions.logging', { logMessages: flag }),
    identity: section('pluginOptions.identity', {
      allowUnverifiedKeys: flag, verifyTimeoutMs: ms, identifyTimeoutMs: ms, maxRegisteredKeys: int(1), displaceIntervalMs: count, maxReplayEntries: count,
      maxVerifiesInFlight: count, maxQueuedVerifies: count, maxQueuedVerifyBytes: count, verifyThreads: int(1), verifyInlineWhenIdle: flag,
      ed25519: z.enum(['auto', 'node:crypto'], { error: 'must be "auto" (libsodium when it loads) or "node:crypto"' }),
    }),
    channels: section('pluginOptions.channels', {
      maxInvitesPerChannel: count, maxCreatedPerAgent: count, channelIdleMs: ms, ephemeralChannelIdleMs: ms, maxCreatedPerIp: count, createsPerMinute: count, sweepMs: ms,
    }),
    listing: section('pluginOptions.listing', {}),
    history: section('pluginOptions.history', { size: count, keep: count, maxChannelBytes: count, maxBytes: count, maxAgeMs: ms, trimMs: ms }),
    proposals: section('pluginOptions.proposals', {
      maxOpenPerAgent: count, maxOpenPerRecipient: count, maxProposals: count, maxBytes: count, retentionMs: ms, maxListed: int(1), sweepMs: ms,
    }),
    health: section('pluginOptions.health', {}),
    metrics: section('pluginOptions.metrics', { token: text }),
    policy: section('pluginOptions.policy', {
      command: text, points: z.array(policyPoint, { error: 'must be a list of policy points' }), timeoutMs: ms, maxInFlight: int(1),
    }),
  }).catchall(z.record(z.string(), z.unknown(), { error: 'must be a mapping (the options of that plugin)' })),
});

export type ServeConfig = z.infer<typeof configSchema>;

/** What the relay runs with when nothing is set; `--print-config` shows it under what was set. */
export function defaultConfig(): ServeConfig {
  const { agentIdOf: _fn, publicUrls: _urls, ...identity } = IDENTITY_DEFAULTS;
  return {
    ...DEFAULT_CONFIG,
    rateMsg: { ...DEFAULT_CONFIG.rateMsg }, rateOther: { ...DEFAULT_CONFIG.rateOther }, rateJoin: { ...DEFAULT_CONFIG.rateJoin },
    logLevel: 'info', dataDir: 'data', memory: false, publicUrls: [], plugins: [], without: [],
    pluginOptions: {
      limits: { ...LIMITS_DEFAULTS, trustProxy: [] },
      logging: { logMessages: false },
      identity,
      channels: { ...CHANNELS_DEFAULTS },
      history: { ...HISTORY_DEFAULTS },
      proposals: { ...PROPOSALS_DEFAULTS },
      metrics: {},
    },
  };
}

export { POLICY_DEFAULTS };

/**
 * Validate one layer of settings (the file, the environment, the flags). `source` names
 * where a path came from: the file name, or the flag or variable that set it.
 */
export function validateLayer(raw: unknown, source: (path: ReadonlyArray<PropertyKey>) => string, valueAt: (path: ReadonlyArray<PropertyKey>) => unknown = (path) => at(raw, path)): ServeConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.join('.');
      const known = FIELDS.get(where) ?? [];
      return `${source(issue.path)}: unknown field ${issue.keys.join(', ')} (the fields${where === '' ? '' : ` of ${where}`} are ${known.length > 0 ? known.join(', ') : 'none'})`;
    }
    const message = issue.message;
    return message.startsWith('must') ? `${source(issue.path)} ${message}, got ${shown(valueAt(issue.path))}` : `${source(issue.path)} ${message}`;
  }));
}

/** Read and validate a config file: JSON by default, YAML for .yaml/.yml. */
export function loadConfigFile(file: string): ServeConfig {
  let textOf: string;
  try {
    textOf = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new UsageError(`--config ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let raw: unknown;
  if (['.yaml', '.yml'].includes(extname(file).toLowerCase())) {
    const doc = parseDocument(textOf);
    if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => `${file}: not valid YAML: ${e.message.split('\n')[0].replace(/:$/, '')}`));
    raw = doc.toJS();
  } else {
    try {
      raw = JSON.parse(textOf);
    } catch (err) {
      throw new UsageError(`${file}: not valid JSON (${(err as Error).message}); a config file ending in .yaml or .yml is read as YAML`);
    }
  }
  // An empty YAML file is a config with nothing set.
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${file}: must be a mapping of settings, like {"port": 6667}`);
  return validateLayer(raw, (path) => (path.length === 0 ? file : `${file}: ${path.join('.')}`));
}

/** Several bad fields: one line each, every line an `error:` line. */
export class ConfigError extends UsageError {
  constructor(readonly problems: string[]) {
    super(problems.join('\nerror: '));
    this.name = 'ConfigError';
  }
}

/** Later layers win; mappings merge field by field, lists and values are replaced. */
export function mergeLayers<T extends object>(...layers: T[]): T {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      const before = out[key];
      out[key] = isMapping(value) && isMapping(before) ? mergeLayers(before, value) : value;
    }
  }
  return out as T;
}

/** Set `value` at a dotted path, making the mappings on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (!isMapping(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

export function at(value: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let node = value;
  for (const key of path) node = isMapping(node) || Array.isArray(node) ? (node as Record<PropertyKey, unknown>)[key] : undefined;
  return node;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function shown(value: unknown): string {
  return value === undefined ? 'nothing' : typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
}
