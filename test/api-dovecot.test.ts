/**
 * A whole migration through the REST API against two real Dovecot servers, with the batch runner
 * running in-process the way `mailshift serve` runs it: endpoints created with the real connection
 * test (and a diagnose), a batch from CSV text, started, watched through the API and the event
 * stream until the users are Synced (and one with a wrong password Failed, with what to do), the
 * CSV report downloaded, the mail verified on the target, and no password in anything the API sent.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openBatchContext } from '../src/app/batch-wiring.js';
import type { BatchContext } from '../src/app/batch-context.js';
import { createApiServer } from '../src/api/create-api-server.js';
import { adminAuthFromToken } from '../src/api/admin-token.js';
import { BatchRunner } from '../src/jobs/batch-runner.js';
import { fillMailbox, generateCorpus, readMailbox, startDovecot } from '../src/testbed/index.js';
import type { DovecotServer } from '../src/testbed/index.js';

const TOKEN = 'e2e-admin-token-0123456789abcdef';
const SRC_PASS = 'Src-e2e-Pass-1';
const DST_PASS = 'Dst-e2e-Pass-2';
const WRONG_PASS = 'Wrong-e2e-Pass-3';
const ADMIN = { user: 'mailadmin', password: 'Adm-e2e-Pass-4' };
const PASSWORDS = [SRC_PASS, DST_PASS, WRONG_PASS, ADMIN.password];
const USERS = ['alice@example.com', 'bob@example.com'];
const WRONG = 'carol@example.com';

let source: DovecotServer;
let target: DovecotServer;
let ctx: BatchContext;
let app: FastifyInstance;
let runner: BatchRunner;
let runnerLoop: Promise<void>;
let base = '';
const received: string[] = [];
const counts = new Map<string, number>();
/** The user's row as the API showed it right after the engine reported progress (the runner refreshes on it). */
const samples: Array<{ user: string; status: string; running: boolean; itemsSynced: number; itemsTotal: number | null; itemsPerSecond: number | null }> = [];

async function api(method: string, path: string, body?: unknown, expect = 200): Promise<{ status: number; text: string; json: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  received.push(text);
  assert.equal(res.status, expect, `${method} ${path}: ${text.slice(0, 1000)}`);
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* CSV */ }
  return { status: res.status, text, json, headers: res.headers };
}

before(async () => {
  [source, target] = await Promise.all([
    startDovecot({ name: 'api-src', folderStyle: 'dovecot', users: [...USERS, WRONG].map((user) => ({ user, password: SRC_PASS })) }),
    startDovecot({ name: 'api-dst', folderStyle: 'exchange', users: [...USERS, WRONG].map((user) => ({ user, password: DST_PASS })), masterUser: ADMIN }),
  ]);
  await Promise.all([...USERS, WRONG].map(async (user, i) => {
    const corpus = generateCorpus({ messages: 12 + i * 4, seed: 40 + i, folders: ['INBOX', 'Sent', 'Archive'] });
    counts.set(user, corpus.length);
    await fillMailbox(source, { user, password: SRC_PASS }, corpus, { connections: 2 });
  }));
  const work = mkdtempSync(join(tmpdir(), 'ms-api-e2e-'));
  ctx = await openBatchContext({ statePath: join(work, 'state.sqlite'), env: { MAILSHIFT_SECRET_KEY: 'd'.repeat(64) } });
  runner = new BatchRunner(ctx, {
    pollMs: 250, leaseMs: 20_000, backoffBaseMs: 500, maxParallel: 4, progressMs: 0,
    observerFor: (address) => ({
      onProgress: () => {
        setTimeout(() => {
          void api('GET', `/api/batches/Wave1/users/${encodeURIComponent(address)}`).then(({ json }) => {
            samples.push({ user: address, status: json.status, running: json.running, itemsSynced: json.itemsSynced, itemsTotal: json.itemsTotal, itemsPerSecond: json.itemsPerSecond });
          }).catch(() => undefined);
        }, 30);
      },
    }),
  });
  ({ app } = await createApiServer({ ctx, auth: adminAuthFromToken(TOKEN), webRoot: null, eventPollMs: 200, runnerActive: () => true }));
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  runnerLoop = runner.start();
});

after(async () => {
  await runner?.stop();
  await runnerLoop;
  await app?.close();
  await ctx?.close();
  await Promise.all([source?.stop(), target?.stop()]);
});

it('runs a migration from the API: endpoints, diagnose, CSV batch, start, live status, Synced, report', { timeout: 240_000 }, async () => {
  // Endpoints, with the real connection test.
  const old = await api('POST', '/api/endpoints', { name: 'old-imap', host: '127.0.0.1', port: source.imapsPort, security: 'ssl', tls: { caPem: source.caPem }, maxConcurrentMigrations: 2 }, 201);
  assert.equal(old.json.test.ok, true, JSON.stringify(old.json.test.verdict));
  assert.equal(old.json.endpoint.tls.caCertificates, 1);
  const bad = await api('POST', '/api/endpoints', { name: 'bad-port', host: '127.0.0.1', port: 9, security: 'ssl' }, 422);
  assert.equal(bad.json.code, 'CONN_REFUSED');
  assert.equal(bad.json.test.report.failedStep, 'tcp');
  const neu = await api('POST', '/api/endpoints', {
    name: 'new-imap', host: '127.0.0.1', port: target.imapsPort, tls: { caPem: target.caPem },
    admin: { user: ADMIN.user, password: ADMIN.password, format: 'authzid' }, testMailbox: USERS[0],
  }, 201);
  assert.equal(neu.json.test.ok, true, JSON.stringify(neu.json.test.verdict));
  assert.equal(neu.json.test.login, 'tested');
  assert.equal(neu.json.endpoint.admin.passwordSet, true);

  // A test without credentials: API wording, not the CLI's.
  const bare = await api('POST', '/api/endpoints/old-imap/test', {});
  assert.equal(bare.json.ok, true, JSON.stringify(bare.json.verdict));
  assert.equal(bare.json.login, 'skipped');
  assert.match(bare.json.verdict.message, /\(no login was tried: give a mailbox or user to test sign-in\)/);
  assert.ok(!bare.text.includes('--user') && !bare.text.includes('--mailbox'), bare.text);

  // The diagnose probe against the real server, with a login.
  const diag = await api('POST', '/api/diagnose', { host: '127.0.0.1', port: source.imapsPort, security: 'ssl', caPem: source.caPem, user: USERS[0], password: SRC_PASS });
  assert.equal(diag.json.ok, true, JSON.stringify(diag.json.verdict));
  assert.deepEqual(diag.json.steps.map((s: any) => s.step).slice(0, 5), ['dns', 'tcp', 'tls', 'imap', 'login']);
  const wrongLogin = await api('POST', '/api/diagnose', { host: '127.0.0.1', port: source.imapsPort, caPem: source.caPem, user: USERS[0], password: WRONG_PASS });
  assert.equal(wrongLogin.json.failedStep, 'login');
  assert.equal(wrongLogin.json.verdict.code, 'AUTH_FAILED');

  // The batch from CSV text: first with a mistake (nothing created), then right.
  const rows = [...USERS.map((u) => `${u},${u},${SRC_PASS}`), `${WRONG},${WRONG},${WRONG_PASS}`];
  const broken = await api('POST', '/api/batches', { name: 'Wave1', source: 'old-imap', target: 'new-imap', csv: `EmailAddress,UserName,Password\n${rows[0]}\n${USERS[1]},${USERS[1]}\n` }, 400);
  assert.equal(broken.json.code, 'API_CSV_INVALID');
  assert.equal(broken.json.errors[0].row, 3);
  await api('GET', '/api/batches/Wave1', undefined, 404);
  const created = await api('POST', '/api/batches', { name: 'Wave1', source: 'old-imap', target: 'new-imap', csv: `EmailAddress,UserName,Password\n${rows.join('\n')}\n`, excludeFolders: ['Archive'] }, 201);
  assert.equal(created.json.users, 3);
  assert.equal(created.json.batch.status, 'Created');

  // Live events while it runs.
  const { ticket } = (await api('POST', '/api/events/ticket', undefined, 201)).json;
  let stream = '';
  const req = http.get(`${base}/api/events?ticket=${ticket}&batch=Wave1`, (res) => { res.setEncoding('utf8'); res.on('data', (d: string) => { stream += d; }); });
  try {
    const started = await api('POST', '/api/batches/Wave1/start');
    assert.equal(started.json.batch.status, 'Starting');

    const deadline = Date.now() + 180_000;
    let batch: any;
    for (;;) {
      batch = (await api('GET', '/api/batches/Wave1')).json;
      if (['Synced', 'SyncedWithErrors', 'Failed'].includes(batch.status) && batch.counts.syncing === 0 && batch.counts.queued === 0) break;
      assert.ok(Date.now() < deadline, `still ${batch.status}: ${JSON.stringify(batch.counts)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(batch.status, 'SyncedWithErrors', JSON.stringify(batch));
    assert.equal(batch.counts.synced, 2);
    assert.equal(batch.counts.failed, 1);
    assert.ok(batch.allowedCommands.includes('complete'));

    const users = (await api('GET', '/api/batches/Wave1/users?limit=10')).json;
    assert.equal(users.total, 3);
    for (const u of USERS) {
      const row = users.users.find((x: any) => x.emailAddress === u);
      assert.equal(row.status, 'Synced', JSON.stringify(row));
      const expected = generateCorpus({ messages: counts.get(u)!, seed: 40 + USERS.indexOf(u), folders: ['INBOX', 'Sent', 'Archive'] }).filter((m) => m.folder !== 'Archive').length;
      assert.equal(row.itemsSynced, expected, `${u}: Items Synced`);
      assert.equal(row.itemsTotal, expected, `${u}: itemsTotal = the source messages of the synced folders (STATUS)`);
      assert.equal(row.itemsPerSecond, null, 'no rate when not running');
      assert.ok(samples.some((x) => x.user === u && x.running && x.status === 'Syncing' && x.itemsSynced > 0 && x.itemsTotal === expected),
        `${u}: Items Synced and itemsTotal were written while the mailbox synced: ${JSON.stringify(samples.filter((x) => x.user === u))}`);
      assert.ok(row.bytesSynced > 0);
      assert.ok(row.lastSyncAt > 0);
      assert.equal(row.error, null);
      // The mail is really on the target (the admin login acts for the user).
      const onTarget = await readMailbox(target, { user: u, password: DST_PASS });
      assert.equal(onTarget.length, expected);
    }
    const failed = (await api('GET', '/api/batches/Wave1/users?status=Failed')).json;
    assert.equal(failed.total, 1);
    assert.equal(failed.users[0].emailAddress, WRONG);
    assert.equal(failed.users[0].error.code, 'AUTH_FAILED');
    assert.match(failed.users[0].error.message, /We had trouble signing in to this account/);
    assert.ok(failed.users[0].error.remediation.length > 0);
    const one = (await api('GET', `/api/batches/Wave1/users/${encodeURIComponent(USERS[0]!)}`)).json;
    assert.deepEqual(one.skippedItems, []);

    // The events told the same story.
    const wait = Date.now() + 5000;
    while (!/"status":"Synced"/.test(stream) && Date.now() < wait) await new Promise((r) => setTimeout(r, 100));
    assert.match(stream, /event: snapshot/);
    assert.match(stream, /event: user\ndata: \{[^\n]*"emailAddress":"alice@example\.com"[^\n]*"status":"Synced"/);
    assert.match(stream, /event: user\ndata: \{[^\n]*"emailAddress":"alice@example\.com"[^\n]*"itemsTotal":\d+/);
    for (const x of samples) assert.ok(x.itemsPerSecond === null || x.itemsPerSecond >= 0, JSON.stringify(x));
    assert.match(stream, /event: batch\ndata: \{[^\n]*"status":"SyncedWithErrors"/);

    // The CSV report, as the dashboard's "Download error report".
    const report = await api('GET', '/api/batches/Wave1/report.csv');
    assert.match(report.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(report.headers.get('content-disposition') ?? '', /attachment; filename="Wave1-report\.csv"/);
    const lines = report.text.split('\r\n');
    assert.ok(lines.some((l) => l.startsWith(`user,${USERS[0]},Synced,`)), report.text);
    assert.ok(lines.some((l) => l.startsWith(`user,${WRONG},Failed,`) && l.includes('AUTH_FAILED')), report.text);

    // Retry puts the failed user back in the queue.
    const retried = await api('POST', '/api/batches/Wave1/retry');
    assert.equal(retried.json.affected, 1);
  } finally {
    req.destroy();
  }
  for (const body of [...received, stream]) {
    for (const pw of PASSWORDS) assert.ok(!body.includes(pw), `the API sent a password: ${body.slice(0, 300)}`);
  }
});
