import test from 'ava';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AgentChatClient } from '../client/index.js';
import { serveOptions } from '../cli/commands/serve.js';
import { UsageError } from '../cli/errors.js';
import { startServe, tempDir } from './helpers/cli.js';

test('serve flags win over environment variables, which fill in what flags leave out', (t) => {
  const env = {
    PORT: '7000', HOST: '127.0.0.2', SERVER_NAME: 'from-env', LOG_MESSAGES: 'true', MESSAGE_BUFFER_SIZE: '5',
    RATE_BURST: '3', RATE_PER_SEC: '0.5', TLS_CERT: 'c.pem', TLS_KEY: 'k.pem',
  };
  t.deepEqual(serveOptions({}, env), {
    config: { port: 7000, host: '127.0.0.2', serverName: 'from-env', rateMsg: { burst: 3, perSec: 0.5 }, tls: { cert: 'c.pem', key: 'k.pem' } },
    pluginOptions: { logging: { logMessages: true }, history: { size: 5 } },
    without: [],
    store: { dataDir: 'data' },
    plugins: [],
  });
  const flagged = serveOptions({ port: 0, host: '::1', name: 'flag', 'buffer-size': 0, 'rate-burst': 20, 'max-payload': 1024, 'allow-unverified-keys': true }, env);
  t.like(flagged.config, { port: 0, host: '::1', serverName: 'flag', rateMsg: { burst: 20, perSec: 0.5 }, maxPayloadBytes: 1024 });
  t.like(flagged.pluginOptions, { history: { size: 0 }, identity: { allowUnverifiedKeys: true } });
  t.deepEqual(serveOptions({}, {}), { config: {}, pluginOptions: {}, without: [], store: { dataDir: 'data' }, plugins: [] }, 'nothing given: the relay defaults apply');
  t.deepEqual(serveOptions({ memory: true }, { DATA_DIR: '/var/lib/agentchat' }).store, { memory: true });
  t.deepEqual(serveOptions({}, { DATA_DIR: '/var/lib/agentchat' }).store, { dataDir: '/var/lib/agentchat' });
});

test('serve maps the per-address limit flags to the limits plugin, 0 meaning no limit', (t) => {
  const { pluginOptions } = serveOptions({ 'max-conns-per-ip': '0', 'conn-rate-per-ip': 5, 'max-sessions-per-ip': '4', 'trust-proxy': ['10.0.0.0/8,::1', '192.0.2.7'] }, {});
  t.deepEqual(pluginOptions.limits, { maxConnsPerIp: 0, connRatePerIp: 5, maxSessionsPerIp: 4, trustProxy: ['10.0.0.0/8', '::1', '192.0.2.7'] });
  t.throws(() => serveOptions({ 'max-conns-per-ip': -1 }, {}), { instanceOf: UsageError, message: /--max-conns-per-ip must be a non-negative integer, got -1/ });
  t.throws(() => serveOptions({ 'trust-proxy': '10.0.0.0/40' }, {}), { instanceOf: UsageError, message: /--trust-proxy 10\.0\.0\.0\/40: not an address or CIDR/ });
});

test('serve rejects bad values as usage errors', (t) => {
  t.throws(() => serveOptions({ port: 70000 }, {}), { instanceOf: UsageError, message: /--port/ });
  t.throws(() => serveOptions({}, { PORT: 'http' }), { instanceOf: UsageError, message: /^PORT must be an integer from 0 to 65535, got "http"$/ });
  t.throws(() => serveOptions({ 'rate-per-sec': 0 }, {}), { instanceOf: UsageError });
  t.throws(() => serveOptions({ cert: 'only-cert.pem' }, {}), { instanceOf: UsageError, message: /--cert and --key/ });
});

test('serve takes the relay name from SERVER_NAME', async (t) => {
  const serve = await startServe(t, [], { env: { SERVER_NAME: 'envrelay' } });
  const client = new AgentChatClient({ server: serve.url });
  t.teardown(() => client.disconnect());
  t.is((await client.connect()).server, 'envrelay');
});

test('serve --cert --key listens with TLS and prints a wss:// URL', async (t) => {
  const dir = await tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const serve = await startServe(t, ['--cert', cert, '--key', key]);
  t.true(serve.url.startsWith('wss://'));
  const client = new AgentChatClient({ server: serve.url, wsOptions: { rejectUnauthorized: false } });
  t.teardown(() => client.disconnect());
  t.is((await client.connect()).type, 'WELCOME');
});

test('serve with a TLS cert or key it cannot use stops with exit 1 and a line naming both files', async (t) => {
  const { runCli } = await import('./helpers/cli.js');
  const run = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--memory', '--cert', '/nope.pem', '--key', '/nope-key.pem']);
  t.is(run.code, 1);
  t.regex(run.stderr, /^error: cannot start TLS with cert \/nope\.pem and key \/nope-key\.pem: check that both files exist/m);
  t.false(run.stderr.includes('App construction failed'));
});
