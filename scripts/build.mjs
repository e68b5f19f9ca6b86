// Bundle the CLI and the library with esbuild, then emit the library's type declarations with tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

// V8 would grow its young generation to 32 MB under a burst of connections: ~3 KB per
// connection at 10,000 idle agents. A 2 MB one costs a relay nothing measurable in CPU.
// The same flag is in `npm start` and the Docker image's CMD.
const NODE_FLAGS = '--max-semi-space-size=2';

// Bundled CommonJS dependencies call require(); an ESM bundle has none unless we make one.
const requireShim = "import { createRequire as __agentchatCreateRequire } from 'node:module';\nconst require = __agentchatCreateRequire(import.meta.url);";

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  absWorkingDir: root,
  // Native or optional: installed as runtime dependencies, loaded from node_modules.
  external: ['uWebSockets.js', 'ws', 'bufferutil', 'utf-8-validate', 'better-sqlite3', 'sodium-native'],
  logLevel: 'warning',
};

// dist/ is overwritten in place, not emptied first: other processes (tests, a running relay) may be reading it.
// The CLI is split: what one command alone imports (the relay and uWebSockets.js for `serve`, the MCP SDK
// for `agentchat mcp`) sits in a chunk under dist/chunks/ loaded by that command, so every other command starts fast.
const [cli] = await Promise.all([
  build({
    ...common,
    entryPoints: { cli: 'cli/index.ts' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    banner: { js: `#!/usr/bin/env -S node ${NODE_FLAGS}\n${requireShim}` },
  }),
  build({ ...common, entryPoints: ['index.ts'], outfile: 'dist/index.js', banner: { js: requireShim } }),
]);
await chmod(join(dist, 'cli.js'), 0o755);

// The browser builds: `agentchat/browser` (dist/browser.js) and the relay's page (dist/web/, served by `serve --web`).
// No Node built-ins: the client's node:events is a small browser emitter, tweetnacl signs.
const browser = {
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  absWorkingDir: root,
  alias: { 'node:events': './client/browser/events.ts' },
  logLevel: 'warning',
};
await Promise.all([
  build({ ...browser, entryPoints: { browser: 'client/browser/index.ts' }, outdir: 'dist' }),
  build({ ...browser, entryPoints: { app: 'web/app.ts' }, outdir: 'dist/web' }),
]);
await mkdir(join(dist, 'web'), { recursive: true });
for (const file of ['index.html', 'style.css']) await copyFile(join(root, 'web', file), join(dist, 'web', file));
// Chunks of earlier builds (their names carry a hash) would otherwise be packed with this one.
const current = new Set(Object.keys(cli.metafile.outputs).map((path) => join(root, path)));
const chunks = join(dist, 'chunks');
for (const name of await readdir(chunks)) {
  if (!current.has(join(chunks, name))) await rm(join(chunks, name), { force: true });
}

// Declarations are rebuilt from scratch so none outlives its source file.
await rm(join(dist, 'types'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.web-build.json')], { stdio: 'inherit' });
console.log('built dist/cli.js, dist/index.js, dist/browser.js, dist/web/, dist/types/');
