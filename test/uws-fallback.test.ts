import test from 'ava';
import { spawn } from 'node:child_process';
import { createRelay } from '../relay.js';

test('the relay runs on the native uWS binary on this platform', async (t) => {
  const relay = createRelay({ port: 0, host: '127.0.0.1', log: false });
  t.teardown(() => relay.close());
  await relay.listen();
  t.true(relay.native);
});

test('a relay that fell back to the JavaScript uWS says so loudly at start', async (t) => {
  // The uWS package loads its fallback when told to: the same path it takes when its binary does not load.
  const script = `
    const { createRelay } = await import('./relay.ts');
    const relay = createRelay({ port: 0, host: '127.0.0.1', log: false });
    await relay.listen();
    console.log(JSON.stringify({ native: relay.native }));
    await relay.close();
    process.exit(0);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, UWS_USE_FALLBACK: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, stderr);
  t.true(stdout.includes('{"native":false}'), stdout);
  t.regex(stderr, /WARNING: uWebSockets\.js could not load its native binary and fell back/);
});
