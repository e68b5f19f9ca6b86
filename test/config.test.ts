/**
 * serve's one config: a file (JSON or YAML), then environment variables, then flags,
 * each validated alone so a bad field is one line naming where it came from; the file
 * covers every kernel bound and core plugin option; --print-config shows the result.
 */
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentChatClient } from '../client/index.js';
import { serveConfig, serveOptions } from '../cli/commands/serve.js';
import { configSchema, defaultConfig } from '../cli/config.js';
import { UsageError } from '../cli/errors.js';
import { DEFAULT_CONFIG } from '../kernel/index.js';
import { createLogger } from '../kernel/logger.js';
import { CHANNELS_DEFAULTS } from '../plugins/channels/index.js';
import { HISTORY_DEFAULTS } from '../plugins/history/index.js';
import { IDENTITY_DEFAULTS } from '../plugins/identity/index.js';
import { LIMITS_DEFAULTS } from '../plugins/limits/index.js';
import { POLICY_DEFAULTS } from '../plugins/policy/index.js';
import { PROPOSALS_DEFAULTS } from '../plugins/proposals/index.js';
import { runCli, startServe, tempDir } from './helpers/cli.js';

async function configFile(t: Parameters<typeof tempDir>[0], name: string, text: string): Promise<string> {
  const file = join(await tempDir(t), name);
  await writeFile(file, text);
  return file;
}

const YAML = `# a hoster's relay
port: 7100
serverName: from-file
rateMsg: { burst: 30 }
idleTimeoutSec: 60
logLevel: warn
pluginOptions:
  history: { size: 5, keep: 500 }
  limits: { maxConnsPerIp: 8, trustProxy: [10.0.0.0/8] }
  channels: { channelIdleMs: 3600000 }
  my-plugin: { anything: [1, 2] }
`;

test('precedence: defaults < config file < environment variables < flags, setting by setting', async (t) => {
  const file = await configFile(t, 'agentchat.yaml', YAML);
  const fileOnly = serveOptions({ config: file }, {});
  t.like(fileOnly.config, { port: 7100, serverName: 'from-file', rateMsg: { burst: 30, perSec: DEFAULT_CONFIG.rateMsg.perSec }, idleTimeoutSec: 60 });
  t.is(fileOnly.logLevel, 'warn');
  t.deepEqual(fileOnly.pluginOptions.history, { size: 5, keep: 500 });
  t.deepEqual(fileOnly.pluginOptions['my-plugin'], { anything: [1, 2] }, 'a --plugin module\'s options pass through as written');

  const env = { PORT: '7200', RATE_PER_SEC: '2', MESSAGE_BUFFER_SIZE: '7', LOG_LEVEL: 'error' };
  const withEnv = serveOptions({ config: file }, env);
  t.like(withEnv.config, { port: 7200, serverName: 'from-file', rateMsg: { burst: 30, perSec: 2 } });
  t.is(withEnv.logLevel, 'error');
  t.deepEqual(withEnv.pluginOptions.history, { size: 7, keep: 500 }, 'the variable replaces one field; the file keeps the others');

  const withFlags = serveOptions({ config: file, port: 7300, 'buffer-size': 9, 'log-level': 'debug', 'max-conns-per-ip': 0,
    'plugin-options': '{"history":{"keep":50}}' }, env);
  t.like(withFlags.config, { port: 7300, rateMsg: { burst: 30, perSec: 2 } });
  t.is(withFlags.logLevel, 'debug');
  t.deepEqual(withFlags.pluginOptions.history, { size: 9, keep: 50 }, '--plugin-options over the flags, the flags over env and file');
  t.deepEqual(withFlags.pluginOptions.limits, { maxConnsPerIp: 0, trustProxy: ['10.0.0.0/8'] });

  // AGENTCHAT_CONFIG names the file when --config does not; --config wins.
  t.is(serveOptions({}, { AGENTCHAT_CONFIG: file }).config.port, 7100);
  const other = await configFile(t, 'other.json', '{"port": 7400}');
  t.is(serveOptions({ config: other }, { AGENTCHAT_CONFIG: file }).config.port, 7400);
});

test('the store is one choice: the highest layer naming memory or a data dir decides', async (t) => {
  const memoryFile = await configFile(t, 'memory.json', '{"memory": true}');
  t.deepEqual(serveOptions({ config: memoryFile }, {}).store, { memory: true });
  t.deepEqual(serveOptions({ config: memoryFile }, { DATA_DIR: '/srv/agentchat' }).store, { dataDir: '/srv/agentchat' });
  const dirFile = await configFile(t, 'dir.json', '{"dataDir": "/srv/from-file"}');
  t.deepEqual(serveOptions({ config: dirFile }, {}).store, { dataDir: '/srv/from-file' });
  t.deepEqual(serveOptions({ config: dirFile, memory: true }, {}).store, { memory: true });
  const both = await configFile(t, 'both.json', '{"memory": true, "dataDir": "x"}');
  t.throws(() => serveOptions({ config: both }, {}), { instanceOf: UsageError, message: /memory keeps nothing on disk, so it takes no dataDir/ });
});

test('the config file covers every kernel bound and every core plugin option that is a value', (t) => {
  const fields = (schema: unknown) => Object.keys((schema as { shape: Record<string, unknown> }).shape);
  const top = fields(configSchema);
  for (const key of Object.keys(DEFAULT_CONFIG)) t.true(top.includes(key), `kernel config ${key}`);
  const plugins = (configSchema.shape.pluginOptions.unwrap() as unknown as { shape: Record<string, unknown> }).shape;
  const unwrap = (name: string) => fields((plugins[name] as { unwrap(): unknown }).unwrap());
  const expected: Record<string, readonly string[]> = {
    limits: [...Object.keys(LIMITS_DEFAULTS), 'trustProxy'],
    history: Object.keys(HISTORY_DEFAULTS),
    channels: [...Object.keys(CHANNELS_DEFAULTS), 'sweepMs'],
    // Functions (agentIdOf, a test clock) are code, not config; publicUrls is the top-level publicUrls.
    identity: Object.keys(IDENTITY_DEFAULTS).filter((k) => k !== 'agentIdOf' && k !== 'publicUrls'),
    proposals: [...Object.keys(PROPOSALS_DEFAULTS), 'sweepMs'],
    policy: ['command', ...Object.keys(POLICY_DEFAULTS)],
    logging: ['logMessages'],
    metrics: ['token'],
  };
  for (const [plugin, keys] of Object.entries(expected)) t.deepEqual(unwrap(plugin).sort(), [...keys].sort(), `pluginOptions.${plugin}`);
  t.true(configSchema.safeParse(defaultConfig()).success, 'the defaults are a valid config file');
});

test('a bad config file is one line per bad field, naming the file and the field, and exit 2', async (t) => {
  const file = await configFile(t, 'bad.yaml', `port: 70000
rateMsg: { burst: 0 }
logLevel: loud
pluginOptions:
  limits: { maxConnsPerIp: -1, trustProxy: [10.0.0.0/40] }
  history: { sizes: 5 }
  policy: { points: [join, everywhere] }
prot: 1
`);
  const { code, stderr } = await runCli(t, ['serve', '--config', file]);
  t.is(code, 2);
  t.deepEqual(stderr.trim().split('\n'), [
    `error: ${file}: port must be an integer from 0 to 65535, got 70000`,
    `error: ${file}: rateMsg.burst must be an integer at least 1, got 0`,
    `error: ${file}: logLevel must be one of debug, info, warn, error, got "loud"`,
    `error: ${file}: pluginOptions.limits.maxConnsPerIp must be a non-negative integer, got -1`,
    `error: ${file}: pluginOptions.limits.trustProxy.0 10.0.0.0/40: not an address or CIDR; write e.g. 10.0.0.0/8, 192.168.1.5 or ::1/128`,
    `error: ${file}: pluginOptions.history: unknown field sizes (the fields of pluginOptions.history are size, keep, maxChannelBytes, maxBytes, maxAgeMs, trimMs)`,
    `error: ${file}: pluginOptions.policy.points.1 unknown point "everywhere"; choose from identify,join,message,frame`,
    `error: ${file}: unknown field prot (the fields are ${Object.keys(configSchema.shape).join(', ')})`,
  ]);
});

test('a config file that is missing, not JSON, not YAML or not a mapping is one line and exit 2', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['broken.json', '{"port": ', /^error: .*broken\.json: not valid JSON \(.*\); a config file ending in \.yaml or \.yml is read as YAML$/],
    ['broken.yml', 'port: [1, 2\n', /^error: .*broken\.yml: not valid YAML: /],
    ['list.json', '[1, 2]', /^error: .*list\.json: must be a mapping of settings/],
  ];
  for (const [name, text, message] of cases) {
    const { code, stderr } = await runCli(t, ['serve', '--config', await configFile(t, name, text)]);
    t.is(code, 2, name);
    t.regex(stderr.trim(), message);
    t.is(stderr.trim().split('\n').length, 1, stderr);
  }
  const missing = await runCli(t, ['serve', '--config', '/nonexistent/agentchat.json']);
  t.is(missing.code, 2);
  t.is(missing.stderr.trim(), 'error: --config /nonexistent/agentchat.json: no such file');
});

test('bad environment variables name the variable', (t) => {
  t.throws(() => serveConfig({}, { LOG_LEVEL: 'verbose' }), { instanceOf: UsageError, message: 'LOG_LEVEL must be one of debug, info, warn, error, got "verbose"' });
  t.throws(() => serveConfig({}, { LOG_MESSAGES: 'maybe' }), { instanceOf: UsageError, message: 'LOG_MESSAGES must be true or false, got "maybe"' });
  t.throws(() => serveConfig({}, { MESSAGE_BUFFER_SIZE: 'lots' }), { instanceOf: UsageError, message: 'MESSAGE_BUFFER_SIZE must be a non-negative integer, got "lots"' });
  t.false(serveOptions({}, { LOG_MESSAGES: 'off' }).pluginOptions.logging?.logMessages);
});

test('serve --print-config prints the effective config as JSON and exits 0 without listening', async (t) => {
  const file = await configFile(t, 'agentchat.yaml', YAML);
  const { code, stdout, stderr } = await runCli(t, ['serve', '--config', file, '--print-config', '--port', '7300', '--metrics-token', 's3cret'], {
    env: { RATE_PER_SEC: '2' },
  });
  t.is(code, 0, stderr);
  t.false(stdout.includes('listening'));
  const printed = JSON.parse(stdout) as ReturnType<typeof defaultConfig>;
  t.like(printed, {
    port: 7300, serverName: 'from-file', host: DEFAULT_CONFIG.host, rateMsg: { burst: 30, perSec: 2 }, logLevel: 'warn', dataDir: 'data', memory: false,
    pluginOptions: {
      history: { ...HISTORY_DEFAULTS, size: 5, keep: 500 },
      limits: { ...LIMITS_DEFAULTS, maxConnsPerIp: 8, trustProxy: ['10.0.0.0/8'] },
      channels: { ...CHANNELS_DEFAULTS, channelIdleMs: 3_600_000 },
      proposals: PROPOSALS_DEFAULTS,
      metrics: { token: '(set; not shown)' },
    },
  });
  t.false(stdout.includes('s3cret'), 'the metrics token is a secret');
  // What it prints is a config file the relay takes back.
  t.true(configSchema.safeParse({ ...printed, pluginOptions: { ...printed.pluginOptions, metrics: {} } }).success);
});

test('a relay started from a config file runs with it', async (t) => {
  const file = await configFile(t, 'relay.json', JSON.stringify({ serverName: 'configured', logLevel: 'warn', pluginOptions: { history: { size: 1 } } }));
  const serve = await startServe(t, ['--config', file]);
  const client = new AgentChatClient({ server: serve.url, name: 'reader' });
  t.teardown(() => client.disconnect());
  t.is((await client.connect()).server, 'configured');
  await client.join('#general');
  for (const content of ['one', 'two']) await client.send('#general', content);
  const late = new AgentChatClient({ server: serve.url, name: 'late' });
  t.teardown(() => late.disconnect());
  await late.connect();
  const replayed: string[] = [];
  late.on('message', (m) => { if (m.replay) replayed.push(m.content); });
  await late.join('#general');
  await late.ping();
  t.deepEqual(replayed, ['two'], 'history.size from the file');
  serve.child.kill('SIGTERM');
  t.is(await serve.exited, 0);
  const levels = serve.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { level: string }).level);
  t.false(levels.includes('info'), 'logLevel warn from the file: no info lines (start, connect, stop)');
});

test('--log-level picks the least severe level written; debug lines cost nothing below it', (t) => {
  const lines: string[] = [];
  const at = (level: 'debug' | 'warn') => {
    lines.length = 0;
    const log = createLogger((line) => lines.push(line), level);
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    return lines.map((l) => (JSON.parse(l) as { event: string }).event);
  };
  t.deepEqual(at('debug'), ['d', 'i', 'w', 'e']);
  t.deepEqual(at('warn'), ['w', 'e']);
  t.throws(() => createLogger(() => {}, 'loud' as 'info'), { message: /log level must be one of debug, info, warn, error/ });
});
