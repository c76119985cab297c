/**
 * The dashboard end to end, in a real browser: Debian's Chromium (/usr/bin/chromium, installed by
 * scripts/test.sh) driven by playwright-core, against `mailshift serve` and two real Dovecot servers.
 *
 * An admin enters the token, diagnoses a server that is no endpoint yet (fails at TLS without its CA,
 * passes with it), creates the source endpoint (private CA uploaded, connection test shown),
 * diagnoses it, uploads a CSV with an error and sees it inline with its row number, fixes it, creates
 * the target endpoint from inside the wizard, excludes folders, starts the batch, watches the users
 * reach Synced (one with a warning, one failed with the seeds' message and what to do) through live updates, opens a
 * user's skipped items and downloads the error report. Screenshots of every page go to
 * test-artifacts/web-e2e/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { fillMailbox, generateCorpus, readMailbox, startDovecot } from '../src/testbed/index.js';
import type { DovecotServer } from '../src/testbed/index.js';
import { BIN } from './support/cli.js';

const ROOT = join(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web-e2e');
const TOKEN = 'e2e-admin-token-0123456789abcdef';
const SRC_PW = 'src-secret';
const DST_PW = 'dst-secret';
const GOOD = ['ann@example.com', 'bob@example.com', 'cat@example.com'];
const BAD = 'dan@example.com';
const LATE = 'eve@example.com';
const MB = 1024 * 1024;

function ensureChromium(): string | null {
  if (existsSync(CHROMIUM)) return null;
  try {
    execFileSync('bash', [join(ROOT, 'scripts', 'install-system-deps.sh'), 'chromium'], { stdio: 'inherit' });
  } catch (err) {
    return `could not install Debian's chromium: ${(err as Error).message}`;
  }
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing and could not be installed`;
}

const skipReason = ensureChromium();
if (skipReason) console.log(`# web-e2e skipped: ${skipReason}`);

function ensureDashboardBuilt(): void {
  const index = join(ROOT, 'web', 'dist', 'index.html');
  const newest = (dir: string): number => {
    let t = 0;
    for (const entry of readdirRecursive(dir)) t = Math.max(t, statSync(entry).mtimeMs);
    return t;
  };
  if (!existsSync(index) || statSync(index).mtimeMs < newest(join(ROOT, 'web', 'src'))) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', join(ROOT, 'web'), '--logLevel', 'warn'], { stdio: 'inherit', cwd: ROOT });
  }
}

function readdirRecursive(dir: string): string[] {
  const out: string[] = [];
  for (const name of execFileSync('find', [dir, '-type', 'f'], { encoding: 'utf8' }).split('\n')) if (name) out.push(name);
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

let source: DovecotServer;
let target: DovecotServer;
let serve: ChildProcess | null = null;
let serveLog = '';
let browser: Browser | null = null;
let baseUrl = '';
const work = mkdtempSync(join(tmpdir(), 'ms-web-e2e-'));

before(async () => {
  if (skipReason) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  ensureDashboardBuilt();
  const users = [...GOOD, BAD, LATE];
  [source, target] = await Promise.all([
    startDovecot({ name: 'web-src', folderStyle: 'dovecot', users: users.map((user) => ({ user, password: SRC_PW })) }),
    startDovecot({ name: 'web-dst', folderStyle: 'exchange', users: users.map((user) => ({ user, password: DST_PW })) }),
  ]);
  await Promise.all(GOOD.map((user, i) => fillMailbox(source, { user, password: SRC_PW },
    generateCorpus({ messages: 900, seed: 300 + i, largeMessages: i === 0 ? { count: 1, bytes: 2 * MB } : { count: 0, bytes: 4096 } }), { connections: 4 })));

  await fillMailbox(source, { user: LATE, password: SRC_PW }, generateCorpus({ messages: 40, seed: 399, folders: ['INBOX', 'Sent'] }));
  // A "Sent Items" besides "Sent" (\Sent): both map to the target's "Sent Items", which is warned about.
  await fillMailbox(source, { user: GOOD[2]!, password: SRC_PW }, generateCorpus({ messages: 2, seed: 398, folders: ['Sent Items'] }));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}/`;
  serve = spawn(process.execPath, [BIN, 'serve', '--state', join(work, 'state.sqlite'), '--port', String(port), '--poll', '300ms'], {
    env: {
      ...process.env,
      MAILSHIFT_CRASH_AT: '',
      MAILSHIFT_ADMIN_TOKEN: TOKEN,
      MAILSHIFT_SECRET_KEY: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  serve.stdout!.on('data', (d: Buffer) => { serveLog += d.toString(); });
  serve.stderr!.on('data', (d: Buffer) => { serveLog += d.toString(); });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${baseUrl}api/info`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline || serve.exitCode !== null) throw new Error(`mailshift serve did not start\n${serveLog}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { serve?.kill('SIGKILL'); r(null); }, 10_000); serve!.once('exit', () => { clearTimeout(t); r(null); }); });
  }
  await Promise.all([source?.stop(), target?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

async function shot(page: Page, name: string, docsName?: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  // MAILSHIFT_DOCS_SCREENSHOTS=1 refreshes the pictures of docs/dashboard.md (the visible part of the page).
  if (docsName && process.env.MAILSHIFT_DOCS_SCREENSHOTS === '1') {
    await page.screenshot({ path: join(ROOT, 'docs', 'images', `dashboard-${docsName}.png`) });
  }
}

function csv(rows: string[]): Buffer {
  return Buffer.from(['EmailAddress,UserName,Password,TargetUserName,TargetPassword', ...rows].join('\r\n') + '\r\n');
}

test('an admin runs a whole migration from the dashboard in Chromium', { skip: skipReason ?? false, timeout: 300_000 }, async () => {
  const context = await browser!.newContext({ viewport: { width: 1366, height: 860 }, acceptDownloads: true });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(30_000);
  try {
    // 1. The token page; a wrong token is refused, the right one opens the batch list.
    await page.goto(baseUrl);
    await page.getByLabel('Admin token').fill('wrong-token-wrong-token');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('The admin token is missing or wrong').waitFor();
    await shot(page, '01-token');
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Migration batches' }).waitFor();
    await page.getByText('No migration batches yet').waitFor();
    // Keyboard: the first Tab reaches "Skip to content", the next ones the main navigation.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Migration batches');

    // 2. Diagnose a server that is no endpoint yet: without its CA the test fails at TLS and says
    // why; with the CA and a user's credentials every step passes.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Diagnose' }).click();
    await page.getByRole('heading', { name: 'Diagnose a server' }).waitFor();
    await page.getByLabel('IMAP server').fill('127.0.0.1');
    await page.getByLabel('Port', { exact: true }).fill(String(source.imapsPort));
    await page.getByRole('button', { name: 'Run the test' }).click();
    await page.getByText('Connection test failed at TLS').waitFor();
    assert.match(await page.locator('.alert.error[role="status"]').innerText(), /What to do:/);
    await page.getByLabel('Trusted CA certificate (PEM), for a private CA').setInputFiles(source.caFile);
    await page.getByLabel('User name').fill(GOOD[0]!);
    await page.getByLabel('Password').fill(SRC_PW);
    await page.getByRole('button', { name: 'Run the test' }).click();
    await page.getByText('Connection test passed', { exact: true }).waitFor();
    await page.locator('.diag-step[data-step="login"] .badge', { hasText: 'PASS' }).waitFor();
    await shot(page, '02a-diagnose-server', 'diagnose-server');

    // 2b. The source endpoint, with the test bed's CA uploaded; the connection test is shown.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Endpoints' }).click();
    await page.getByRole('link', { name: '+ New endpoint' }).click();
    await page.getByLabel('Endpoint name').fill('old-imap');
    await page.getByLabel('IMAP server').fill('127.0.0.1');
    await page.getByLabel('Port', { exact: true }).fill(String(source.imapsPort));
    await page.getByLabel('Trusted CA certificate (PEM), for a private CA').setInputFiles(source.caFile);
    await shot(page, '02-endpoint-form');
    await page.getByRole('button', { name: 'Test and create endpoint' }).click();
    await page.getByText('Endpoint old-imap saved.').waitFor();
    await page.getByText('Connection test passed', { exact: true }).waitFor();
    await page.locator('.diag-step[data-step="tls"]').getByText('Certificate chain as sent').waitFor();
    await shot(page, '03-endpoint-created');

    // 3. Diagnose it with a user's credentials: DNS, TCP, TLS with the chain, IMAP capabilities, login.
    await page.getByRole('link', { name: 'Back to endpoints' }).click();
    await page.locator('tr[data-endpoint="old-imap"]').getByText('passed').waitFor();
    await shot(page, '04-endpoints');
    // Edit: a new concurrency limit (no password is ever sent back to the form).
    await page.getByRole('link', { name: 'Edit old-imap' }).click();
    await page.getByLabel('Maximum concurrent migrations').fill('5');
    await page.getByRole('button', { name: 'Save endpoint' }).click();
    await page.getByText('Endpoint old-imap saved.').waitFor();
    await page.getByRole('link', { name: 'Back to endpoints' }).click();
    assert.equal((await page.locator('tr[data-endpoint="old-imap"] td').nth(4).innerText()).trim(), '5');
    await page.getByRole('link', { name: 'Diagnose old-imap' }).click();
    await page.getByText('Connection test passed', { exact: true }).waitFor();
    await page.getByLabel('User name').fill(GOOD[0]!);
    await page.getByLabel('Password').fill(SRC_PW);
    await page.getByRole('button', { name: 'Run the test again' }).click();
    await page.locator('.diag-step[data-step="login"] .badge', { hasText: 'PASS' }).waitFor();
    assert.match(await page.locator('.diag-step[data-step="imap"]').innerText(), /IMAP4rev1/);
    await shot(page, '05-diagnose', 'diagnose');

    // 4. New batch: a CSV with an error is refused inline with its row number; nothing is created.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Migration batches' }).click();
    await page.getByRole('link', { name: '+ New migration batch' }).click();
    const goodRows = GOOD.map((u) => `${u},${u},${SRC_PW},${u},${DST_PW}`);
    const badRow = `${BAD},${BAD},not-the-password,${BAD},${DST_PW}`;
    await page.getByLabel('Migration file (CSV)').setInputFiles({ name: 'Wave1.csv', mimeType: 'text/csv', buffer: csv([goodRows[0]!, `${GOOD[1]},${GOOD[1]}`, goodRows[2]!, badRow]) });
    const problems = page.getByTestId('csv-errors');
    await problems.waitFor();
    const problemText = await problems.innerText();
    assert.match(problemText, /Row 3/);
    assert.match(problemText, /wrong number of columns/i);
    assert.ok(await page.getByRole('button', { name: 'Next' }).isDisabled());
    await shot(page, '06-csv-error', 'csv-error');
    const listed = await (await fetch(`${baseUrl}api/batches`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { batches: unknown[] };
    assert.equal(listed.batches.length, 0, 'nothing was created from an invalid CSV');

    // The fixed file.
    await page.getByLabel('Migration file (CSV)').setInputFiles({ name: 'Wave1.csv', mimeType: 'text/csv', buffer: csv([...goodRows, badRow]) });
    await page.getByTestId('csv-ok').getByText('4 mailboxes to migrate').waitFor();
    await page.getByRole('button', { name: 'Next' }).click();

    // 5. Endpoints: the source exists; the target is created from inside the wizard.
    await page.getByLabel('Source endpoint (the old server)').selectOption('old-imap');
    await page.getByRole('button', { name: 'New endpoint…' }).nth(1).click();
    const inline = page.locator('form[aria-label="New endpoint"]');
    await inline.getByLabel('Endpoint name').fill('new-imap');
    await inline.getByLabel('IMAP server').fill('127.0.0.1');
    await inline.getByLabel('Port', { exact: true }).fill(String(target.imapsPort));
    await inline.getByLabel('Trusted CA certificate (PEM), for a private CA').setInputFiles(target.caFile);
    await inline.getByRole('button', { name: 'Test and create endpoint' }).click();
    await page.getByText('Endpoint new-imap created.').waitFor();
    assert.equal(await page.getByLabel('Target endpoint (the new server)').inputValue(), 'new-imap');
    await shot(page, '07-wizard-endpoints');
    await page.getByRole('button', { name: 'Next' }).click();

    // 6. Move configuration: name, excluded folders with the Gmail hint, a 1 MB limit (one message is 2 MB).
    await page.getByRole('heading', { name: 'Move configuration' }).waitFor();
    assert.equal(await page.getByLabel('Batch name').inputValue(), 'Wave1');
    await page.locator('#exclude-input').fill('Junk');
    await page.locator('#exclude-input').press('Enter');
    await page.getByRole('button', { name: 'Exclude [Gmail]' }).click();
    await page.getByLabel('Maximum message size (MB)').fill('1');
    await shot(page, '08-wizard-settings');
    await page.getByRole('button', { name: 'Next' }).click();

    // 7. Start: notification address, auto-start.
    await page.getByLabel('Send a copy of the migration report to (optional)').fill('admin@example.com');
    assert.ok(await page.getByLabel('Automatically start the batch').isChecked());
    await shot(page, '09-wizard-start');
    await page.getByRole('button', { name: 'Create and start' }).click();

    // 8. Batch details: live updates bring every good user to Synced and the bad one to Failed.
    await page.getByRole('heading', { name: /Wave1/ }).waitFor();
    for (const user of GOOD) {
      await page.locator(`tr[data-user="${user}"] .badge`, { hasText: /^(Synced|IncrementalSynced)$/ }).waitFor({ timeout: 180_000 });
    }
    const badRowEl = page.locator(`tr[data-user="${BAD}"]`);
    await badRowEl.locator('.badge', { hasText: 'Failed' }).waitFor({ timeout: 120_000 });
    assert.match(await badRowEl.innerText(), /We had trouble signing in to this account/);
    assert.match(await badRowEl.innerText(), /What to do:/);
    await page.locator('h1 .badge', { hasText: 'SyncedWithErrors' }).waitFor({ timeout: 60_000 });
    const annRow = page.locator(`tr[data-user="${GOOD[0]}"]`);
    assert.match(await annRow.locator('td').nth(4).innerText(), /^1$/, 'the 2 MB message was skipped');
    assert.match(await annRow.locator('td').nth(3).innerText(), /^[\d,]+ \/ [\d,]+$/, 'Items Synced / the mailbox total');
    assert.match(await page.locator(`tr[data-user="${GOOD[2]}"] [data-warning]`).innerText(), /^Warning: Both "Sent" and "Sent Items" map to "Sent Items"/);
    assert.equal(await annRow.locator('[data-warning]').count(), 0);
    await page.waitForTimeout(1500);
    await shot(page, '10-batch-details', 'batch-details');

    // A user's details: the skipped message with why and what to do.
    await annRow.getByRole('button', { name: GOOD[0]! }).click();
    await page.locator('h3', { hasText: 'Skipped items (1)' }).waitFor();
    await page.getByText('larger than the maximum message size').first().waitFor();
    await shot(page, '11-user-details');

    // Filter by status (server-side).
    await page.getByLabel('Status', { exact: true }).selectOption('Failed,IncrementalFailed');
    await page.locator('tbody tr[data-user]').first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-user]').length === 1);
    assert.equal(await page.locator('tbody tr[data-user]').getAttribute('data-user'), BAD);

    await page.getByLabel('Status', { exact: true }).selectOption('');
    // Only the users whose last sync warned (server-side too).
    await page.getByLabel('Only users with warnings').check();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-user]').length === 1);
    assert.equal(await page.locator('tbody tr[data-user]').getAttribute('data-user'), GOOD[2]);
    await page.getByLabel('Only users with warnings').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr[data-user]').length === 4);

    // Add a user to the running batch: it appears (the page refetches when the total changes) and syncs.
    await page.getByRole('button', { name: 'Add users to this batch…' }).click();
    await page.getByLabel('Add users from a CSV file').setInputFiles({ name: 'late.csv', mimeType: 'text/csv', buffer: csv([`${LATE},${LATE},${SRC_PW},${LATE},${DST_PW}`]) });
    await page.getByText('1 user added from late.csv.').waitFor();
    await page.locator(`tr[data-user="${LATE}"] .badge`, { hasText: /^(Synced|IncrementalSynced)$/ }).waitFor({ timeout: 120_000 });

    // 9. The error report.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download error report' }).click()]);
    const reportPath = join(ARTIFACTS, 'Wave1-report.csv');
    await download.saveAs(reportPath);
    const report = readFileSync(reportPath, 'utf8');
    assert.match(report, new RegExp(BAD.replace('.', '\\.')));
    assert.match(report, /We had trouble signing in to this account/);

    // 10. The batch list shows the batch and its counts.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Migration batches' }).click();
    await page.locator('.live-dot.on').waitFor(); // the list's event stream (?types=snapshot,batch,batch-removed) is open
    const row = page.locator('tr[data-batch="Wave1"]');
    await row.getByText('SyncedWithErrors').waitFor();
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], '5', 'total');
    assert.equal(cells[2], '4', 'synced');
    assert.equal(cells[4], '1', 'failed');
    await shot(page, '12-batches', 'batches');

    // The messages really are on the target (all but the skipped 2 MB one).
    const [s, t] = await Promise.all([readMailbox(source, { user: GOOD[1]!, password: SRC_PW }), readMailbox(target, { user: GOOD[1]!, password: DST_PW })]);
    const junk = s.filter((m) => m.folder === 'Junk').length;
    assert.equal(t.length, s.length - junk, 'every message but the excluded Junk folder was copied');

    // Remove the batch, after a confirmation; its row goes away (mailboxes are never touched).
    await page.getByRole('button', { name: 'Remove Wave1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove the batch?' });
    await dialog.waitFor();
    await shot(page, '13-remove-confirmation');
    await dialog.getByRole('button', { name: 'Remove batch' }).click();
    await page.getByText('No migration batches yet').waitFor({ timeout: 60_000 });
    assert.equal((await readMailbox(target, { user: GOOD[1]!, password: DST_PW })).length, t.length, 'removing a batch leaves the mail where it is');

    // Sign out: back to the token page, the token is forgotten.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.deepEqual(consoleErrors.filter((e) => !/401|Unauthorized/i.test(e)), [], 'no errors in the browser console');
  } catch (err) {
    await shot(page, 'failure').catch(() => undefined);
    throw new Error(`${(err as Error).stack}\n--- serve log ---\n${serveLog.slice(-4000)}`);
  } finally {
    await context.close();
  }
});
