/** Pages opened in headless Chromium (Debian's chromium driven by playwright-core), with what went wrong on them. */
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page, Request } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether Chromium is there; says how to get it when it is not (the caller skips its browser tests). */
export async function chromiumAvailable(what: string): Promise<boolean> {
  const present = await access(CHROMIUM, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!present) console.warn(`${what} browser test skipped: no Chromium at ${CHROMIUM}; install it with "apt-get install chromium" or set CHROMIUM_PATH.`);
  return present;
}

export interface BrowserPage {
  page: Page;
  /** Console errors and warnings, page errors and failed requests, as they come. */
  problems: string[];
  /** Every URL requested. */
  requests: string[];
}

/**
 * Opens a fresh browser profile and a page that records its problems, runs `use`, and closes both. `ignoreFailure`
 * names failed requests that are no problem.
 */
export async function withBrowserPage<T>(use: (browser: BrowserPage) => Promise<T>, ignoreFailure: (request: Request) => boolean = () => false): Promise<T> {
  const { chromium } = await import('playwright-core');
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'vs-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => {
      if (!ignoreFailure(request)) problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
    });
    page.on('request', (request) => requests.push(request.url()));
    return await use({ page, problems, requests });
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}
