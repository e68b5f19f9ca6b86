/**
 * Headless Chromium for the page's tests, through puppeteer-core pointed at Debian's
 * chromium (CHROMIUM_PATH overrides): one browser per test file, one isolated context
 * (its own IndexedDB) per test, every page error collected so a test can assert none.
 */
import type { ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or null when they can. */
export function browserUnavailable(): string | null {
  return existsSync(CHROMIUM_PATH) ? null : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    // A loaded 2-core machine starts Chromium slowly; the default 30 s is generous already, this is a bound, not a margin.
    timeout: 60_000,
  });
}

export interface TestPage {
  page: Page;
  /** Uncaught errors of the page's scripts: a test expects none. */
  errors: string[];
  /** Console errors (a refused connection during a restart logs one, so these are for diagnosis). */
  console: string[];
}

/** A page in a fresh browser context, closed at teardown. */
export async function newPage(t: ExecutionContext, browser: Browser): Promise<TestPage> {
  const context = await browser.createBrowserContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  const consoleErrors: string[] = [];
  page.on('pageerror', (err) => errors.push(err instanceof Error ? err.message : String(err)));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  return { page, errors, console: consoleErrors };
}
