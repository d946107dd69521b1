// lib.mjs - shared helpers for the dashboard browser tests: launch the system Chromium through
// playwright-core, collect console errors and failed requests per page, checks and screenshots.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function launch() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dm-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: Number(process.env.VW || 1280), height: Number(process.env.VH || 800) },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

/* Record console errors, uncaught exceptions and CSP violations of a page. */
export function watchConsole(page, sink) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') sink.push(`console: ${msg.text()} @ ${page.url()}`);
  });
  page.on('pageerror', (err) => sink.push(`exception: ${err.message} @ ${page.url()}`));
}

let checks = 0, fails = 0;
export function check(what, ok, detail = '') {
  checks++;
  if (ok) console.log(`ok   - ${what}${detail ? ` (${detail})` : ''}`);
  else { fails++; console.log(`FAIL - ${what}${detail ? `: ${detail}` : ''}`); }
  return ok;
}
export function summary() {
  console.log(`${checks - fails} passed, ${fails} failed`);
  return fails === 0 && checks > 0;
}

export async function shot(page, dir, name) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
