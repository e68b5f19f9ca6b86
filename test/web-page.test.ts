/**
 * The relay's page (serve --web) in a real headless Chromium: what a Node client sends
 * appears in the DOM, what the page posts reaches Node, signatures are checked in the
 * browser (a forged copy is refused), markup stays text, the browser bundle signs
 * byte-identically to node:crypto and proves an imported identity file's key to the
 * relay, and a relay restart loses nothing. Skipped, saying why, without Chromium.
 */
import test, { type ExecutionContext } from 'ava';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { generateIdentity } from '../client/index.js';
import type { Plugin } from '../kernel/types.js';
import { web } from '../plugins/web/index.js';
import { agentIdFromPem, parsePublicKey, signString, verifySignature } from '../protocol/keys.js';
import type { MsgFrame } from '../protocol/messages.js';
import { msgSigningString } from '../protocol/signing.js';
import type { RelayOptions } from '../relay.js';
import { openStore } from '../store/index.js';
import { browserUnavailable, launchBrowser, newPage } from './helpers/browser.js';
import { connectClient, startRelay, startServe, tempDir } from './helpers/cli.js';
import { NO_ADDRESS_LIMITS } from './helpers/relay-client.js';
import { tcpFront } from './helpers/tcp-front.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const unavailable = browserUnavailable();
const browserTest = unavailable === null ? test.serial : (title: string) => test.skip(`${title} (skipped: ${unavailable})`, () => undefined);

let browser: Browser | null = null;
if (unavailable === null) {
  test.before(async () => {
    browser = await launchBrowser();
  });
  test.after.always(async () => {
    await browser?.close();
  });
}

/** The part of agentchat/browser the signing test calls inside Chromium. */
interface BrowserKeys {
  keyPairFromSeed(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array; seed: Uint8Array };
  spkiPem(publicKey: Uint8Array): string;
  pkcs8Pem(seed: Uint8Array): string;
  agentIdFromPem(pem: string): string;
  signText(secretKey: Uint8Array, text: string): string;
}

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
const withWeb = (extra: RelayOptions = {}): RelayOptions => ({
  ...extra,
  extraPlugins: [web(), ...(extra.extraPlugins ?? [])],
  pluginOptions: { limits: NO_ADDRESS_LIMITS, ...extra.pluginOptions },
});

/** Open the page and wait until it is connected and in #general, ready to post. */
async function openRelayPage(t: ExecutionContext, url: string): Promise<{ page: Page; errors: string[]; agentId: string }> {
  const opened = await newPage(t, browser!);
  await opened.page.goto(url);
  await opened.page.waitForSelector('#status[data-state="connected"]');
  await opened.page.waitForSelector('#log ul[data-channel="#general"]');
  await opened.page.waitForSelector('#message:not([disabled])');
  const status = await opened.page.$eval('#status', (e) => e.textContent ?? '');
  return { ...opened, agentId: /@[a-z0-9]+/.exec(status)![0] };
}

/** The message line whose content is exactly `content`, once it is in the DOM. */
async function waitForLine(page: Page, content: string, extra = ''): Promise<void> {
  await page.waitForFunction((text, selector) => [...document.querySelectorAll(`#log li.msg${selector}`)]
    .some((li) => li.querySelector('.content')?.textContent === text), {}, content, extra);
}

async function post(page: Page, text: string): Promise<void> {
  await page.$eval('#message', (input, value) => {
    (input as HTMLInputElement).value = value;
  }, text);
  await page.click('#send');
}

/** A PNG under this test's own temp dir (kept, for a look), and at WEB_SCREENSHOT when set (docs/web.png is made so). */
async function screenshot(t: ExecutionContext, page: Page): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'agentchat-web-'));
  const path = join(dir, 'page.png');
  await page.screenshot({ path });
  t.log(`screenshot: ${path}`);
  if (process.env.WEB_SCREENSHOT) await copyFile(path, join(root, process.env.WEB_SCREENSHOT));
}

test('GET /: the page to a browser\'s Accept; JSON clients and no Accept get what they got without --web', async (t) => {
  const plain = await startRelay(t, { pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const relay = await startRelay(t, withWeb());
  const http = (port: number, path: string, accept?: string) =>
    fetch(`http://127.0.0.1:${port}${path}`, { headers: accept === undefined ? {} : { accept } });

  for (const accept of ['application/json', 'text/html, application/json', undefined]) {
    const [before, after] = await Promise.all([http(plain.port, '/', accept), http(relay.port, '/', accept)]);
    t.is(after.status, before.status, `Accept: ${accept}`);
    t.is(after.headers.get('content-type'), before.headers.get('content-type'));
    const [was, is] = [await before.text(), await after.text()];
    if (before.headers.get('content-type') === 'application/json') {
      // The same document; its plugin list now names web.
      const { plugins, ...rest } = JSON.parse(was) as { plugins: string[] };
      t.deepEqual(JSON.parse(is), { ...rest, plugins: [...plugins, 'web'] });
    } else {
      t.is(is, was);
    }
  }
  t.is((await http(plain.port, '/', BROWSER_ACCEPT)).status, 426, 'no page without the web plugin');

  const page = await http(relay.port, '/', BROWSER_ACCEPT);
  t.is(page.status, 200);
  t.is(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  t.regex(await page.text(), /<script type="module" src="\/web\/app.js">/);
  const script = await http(relay.port, '/web/app.js');
  t.is(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.is(await script.text(), await readFile(join(root, 'dist/web/app.js'), 'utf8'));

  const client = await connectClient(t, `ws://127.0.0.1:${relay.port}`);
  await client.join('#general');
  await client.send('#general', 'counted');
  const stats = (await (await http(relay.port, '/web/stats')).json()) as Record<string, number>;
  t.like(stats, { sessions: 1, channels: 2, messages_delivered: 1 });
  t.true(Math.abs(stats.ts - Date.now()) < 60_000);
});

test('serve --web (the built CLI) serves the page and its script from the package\'s dist/web', async (t) => {
  const relay = await startServe(t, ['--web']);
  const page = await fetch(`http://127.0.0.1:${relay.port}/`, { headers: { accept: BROWSER_ACCEPT } });
  t.is(page.status, 200);
  t.is(await page.text(), await readFile(join(root, 'dist/web/index.html'), 'utf8'));
  const style = await fetch(`http://127.0.0.1:${relay.port}/web/style.css`);
  t.is(style.headers.get('content-type'), 'text/css; charset=utf-8');
  const without = await startServe(t);
  t.is((await fetch(`http://127.0.0.1:${without.port}/`, { headers: { accept: BROWSER_ACCEPT } })).status, 426, 'off by default');
  t.not((await fetch(`http://127.0.0.1:${without.port}/web/stats`)).status, 200, 'no stats route either');
});

test('the web plugin without a built page refuses to start, saying how to build it', async (t) => {
  const dir = await tempDir(t);
  const error = await t.throwsAsync(startRelay(t, { extraPlugins: [web({ assetsDir: dir })] }));
  t.regex(error!.message, /index\.html is not at .*npm run build/);
});

browserTest('the page shows what a Node client sends, Node receives what the page posts, and markup stays text', async (t) => {
  t.timeout(120_000);
  const relay = await startRelay(t, withWeb());
  const { page, errors, agentId } = await openRelayPage(t, `http://127.0.0.1:${relay.port}/`);
  const node = await connectClient(t, `ws://127.0.0.1:${relay.port}`, { name: 'nodebot' });
  await node.join('#general');

  // Presence: the Node agent's join is shown, with its name.
  await page.waitForSelector(`#members li[data-agent="${node.agentId}"]`);
  await page.waitForFunction((text) => [...document.querySelectorAll('#log li.presence')].some((li) => li.textContent?.includes(text)), {}, `nodebot (${node.agentId}) joined`);

  await node.send('#general', 'hello from node');
  await waitForLine(page, 'hello from node', `[data-from="${node.agentId}"]`);
  t.is(await page.$eval(`#log li.msg[data-from="${node.agentId}"] .from-name`, (e) => e.textContent), 'nodebot');

  const received = new Promise<MsgFrame>((resolve) => node.on('message', (m) => m.from === agentId && resolve(m)));
  await post(page, 'hello from the page');
  t.like(await received, { from: agentId, to: '#general', content: 'hello from the page' });

  const markup = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>';
  await node.send('#general', markup);
  await waitForLine(page, markup);
  t.deepEqual(await page.evaluate(() => ({
    pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
    elements: document.querySelectorAll('#log script, #log img, #log b').length,
  })), { pwned: null, elements: 0 });

  const left = node.disconnect();
  await page.waitForFunction((id) => document.querySelector(`#members li[data-agent="${id}"]`) === null, {}, node.agentId);
  await left;
  t.deepEqual(errors, []);
});

browserTest('a signed message shows as verified; a forged copy is refused; the screenshot shows both', async (t) => {
  t.timeout(120_000);
  // Plays a relay that tampers: re-sends a signed message with other content under the same signature.
  const forger: Plugin = {
    name: 'forger',
    setup(relay) {
      relay.hook('delivered', (_session, frame) => {
        if (frame.content !== 'I pay 10' || frame.sig === undefined) return;
        relay.publish(frame.to, { type: 'MSG', from: frame.from, to: frame.to, content: 'I pay 1000', sig: frame.sig, sig_ts: frame.sig_ts });
      });
    },
  };
  const relay = await startRelay(t, withWeb({ extraPlugins: [forger] }));
  const { page, errors } = await openRelayPage(t, `http://127.0.0.1:${relay.port}/`);
  const url = `ws://127.0.0.1:${relay.port}`;
  const aliceIdentity = generateIdentity('alice');
  const alice = await connectClient(t, url, { identity: aliceIdentity });
  const bob = await connectClient(t, url, { name: 'bob' });
  await alice.join('#general');
  await bob.join('#general');

  await bob.send('#general', 'hi all, unsigned from bob');
  await alice.send('#general', 'I pay 10');
  await bob.send('#general', '<script>alert("stays text")</script>');
  await waitForLine(page, 'I pay 10', ':has(.sig[data-verified="yes"])');
  await waitForLine(page, 'I pay 1000', ':has(.sig[data-verified="no"])');
  await waitForLine(page, 'hi all, unsigned from bob', ':has(.sig[data-verified="unsigned"])');
  await waitForLine(page, '<script>alert("stays text")</script>');
  t.is(await page.$eval(`#log li.msg:has(.sig[data-verified="yes"]) .from-id`, (e) => e.textContent), aliceIdentity.agentId);
  t.true(await page.$eval('#log li.forged .content', (e) => e.textContent === 'I pay 1000'));
  // The relay panel: the numbers of /web/stats, and a rate line once two samples are in.
  await page.waitForFunction(() => document.querySelector('#stat-sessions')?.textContent === '3');
  await page.waitForFunction(() => (document.querySelector('#rate-line')?.getAttribute('points') ?? '').split(' ').length >= 3);
  await page.waitForSelector('#channels li[data-channel="#general"] .count');
  await page.waitForFunction(() => document.querySelector('#channels li[data-channel="#general"] .count')?.textContent === '3');
  await screenshot(t, page);
  t.deepEqual(errors, []);
});

browserTest('one seed signs byte-identically in Chromium (agentchat/browser) and in node:crypto', async (t) => {
  t.timeout(120_000);
  const { page, errors } = await newPage(t, browser!);
  await page.goto('about:blank');
  const bundle = await readFile(join(root, 'dist/browser.js'), 'utf8');
  const seed = randomBytes(32);
  const texts = ['AGENTCHAT-AUTH|agentchat|bm9uY2U=|ws://127.0.0.1:6667', msgSigningString('#general', 'héllo ✓', 1_700_000_000_000)];
  const inBrowser = await page.evaluate(async (source, seedHex, toSign) => {
    const lib = (await import(`data:text/javascript;base64,${btoa(unescape(encodeURIComponent(source)))}`)) as BrowserKeys;
    const bytes = new Uint8Array(seedHex.match(/../g)!.map((h) => parseInt(h, 16)));
    const pair = lib.keyPairFromSeed(bytes);
    const spki = lib.spkiPem(pair.publicKey);
    return { spki, pkcs8: lib.pkcs8Pem(pair.seed), agentId: lib.agentIdFromPem(spki), sigs: toSign.map((text) => lib.signText(pair.secretKey, text)) };
  }, bundle, seed.toString('hex'), texts);

  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  t.is(inBrowser.spki, spki);
  t.is(inBrowser.pkcs8, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  t.is(inBrowser.agentId, agentIdFromPem(spki));
  t.deepEqual(inBrowser.sigs, texts.map((text) => signString(privateKey, text)));
  t.deepEqual(errors, []);
});

browserTest('README\'s agentchat/browser example runs as written in Chromium: a kept identity, a signed message the relay verifies', async (t) => {
  t.timeout(120_000);
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('### The client library in a browser')))?.[1];
  if (example === undefined) return t.fail('no js block under "### The client library in a browser"');
  const relay = await startRelay(t, withWeb());
  const node = await connectClient(t, `ws://127.0.0.1:${relay.port}`, { name: 'reader' });
  await node.join('#general');
  const received = new Promise<MsgFrame>((resolve) => node.on('message', (m) => m.content === 'signed in a browser' && resolve(m)));

  const { page, errors } = await newPage(t, browser!);
  // On the relay's origin (IndexedDB needs one), with its CSP lifted so the example can run as an inline module.
  await page.setBypassCSP(true);
  await page.goto(`http://127.0.0.1:${relay.port}/web/stats`);
  const bundle = `data:text/javascript;base64,${Buffer.from(await readFile(join(root, 'dist/browser.js'))).toString('base64')}`;
  // The only changes: the package name becomes the built bundle, the example relay this one.
  const code = example.replace("from 'agentchat/browser'", `from '${bundle}'`).replace('wss://relay.example.com', `ws://127.0.0.1:${relay.port}`);
  await page.addScriptTag({ type: 'module', content: code });
  const msg = await received;
  const who = await node.whois(msg.from);
  t.like(who, { name: 'my-browser-agent', verified: true });
  t.true(verifySignature(parsePublicKey(who.pubkey!).key, msgSigningString(msg.to, msg.content, msg.sig_ts!), msg.sig!));
  t.deepEqual(errors, []);
});

browserTest('an identity file imported into the page proves its key (VERIFY with url), signs what it posts, and stays in IndexedDB', async (t) => {
  t.timeout(120_000);
  const relay = await startRelay(t, withWeb());
  const { page, errors } = await openRelayPage(t, `http://127.0.0.1:${relay.port}/`);
  const identity = generateIdentity('carol');
  const dir = await tempDir(t);
  const file = join(dir, 'identity.json');
  await writeFile(file, JSON.stringify({ name: identity.name, pubkey: identity.pubkey, privkey: identity.privkey, created: identity.created }, null, 2));
  const node = await connectClient(t, `ws://127.0.0.1:${relay.port}`, { name: 'listener' });
  await node.join('#general');

  const input = await page.$('#identity-import');
  await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(file);
  // WELCOME with verified: the relay checked the browser's signature over AGENTCHAT-AUTH|server|nonce|url.
  await page.waitForFunction((id) => document.querySelector('#me')?.textContent === `carol ${id} (key proven)`, {}, identity.agentId);
  await page.waitForSelector('#message:not([disabled])');

  const received = new Promise<MsgFrame>((resolve) => node.on('message', (m) => m.from === identity.agentId && resolve(m)));
  await post(page, 'signed in a browser');
  const msg = await received;
  t.like(msg, { from: identity.agentId, content: 'signed in a browser' });
  t.true(verifySignature(parsePublicKey(identity.pubkey).key, msgSigningString(msg.to, msg.content, msg.sig_ts!), msg.sig!), 'node:crypto verifies the browser signature');
  await waitForLine(page, 'signed in a browser', ':has(.sig[data-verified="yes"])');

  // Reloaded, the page finds the identity in IndexedDB and posts as it again.
  await page.reload();
  await page.waitForFunction((id) => document.querySelector('#me')?.textContent === `carol ${id} (key proven)`, {}, identity.agentId);
  t.is(await page.$eval('#identity-label', (e) => e.textContent), `identity: carol ${identity.agentId}`);
  t.deepEqual(errors, []);
});

browserTest('after a relay restart the page reconnects, resumes from its last msg_id, and shows each message once', async (t) => {
  t.timeout(120_000);
  // Through a front on a fixed port (the relay's own port is not free again at once): the page's origin stays the same.
  const front = await tcpFront(t);
  const dataDir = await tempDir(t);
  const options = () => withWeb({ store: openStore({ dataDir }), pluginOptions: { identity: { publicUrls: [front.url] } } });
  const first = await startRelay(t, options());
  front.retarget(first.port);
  const { page, errors } = await openRelayPage(t, `http://127.0.0.1:${front.port}/`);
  const before = await connectClient(t, `ws://127.0.0.1:${first.port}`, { name: 'before' });
  await before.join('#general');
  await before.send('#general', 'before the restart');
  await waitForLine(page, 'before the restart');

  await before.disconnect();
  await first.close();
  await front.close();
  await page.waitForSelector('#status[data-state="reconnecting"]');

  const second = await startRelay(t, options());
  // Posted while the page cannot reach the relay: only the resume can bring it.
  const during = await connectClient(t, `ws://127.0.0.1:${second.port}`, { name: 'during' });
  await during.join('#general');
  await during.send('#general', 'while the page was away');
  await tcpFront(t, second.port, front.port);

  await page.waitForSelector('#status[data-state="connected"]');
  await waitForLine(page, 'while the page was away');
  await during.send('#general', 'after the restart');
  await waitForLine(page, 'after the restart');
  const counts = await page.$$eval('#log li.msg .content', (items) => items.map((e) => e.textContent));
  t.deepEqual(counts, ['before the restart', 'while the page was away', 'after the restart']);
  t.deepEqual(errors, []);
});
