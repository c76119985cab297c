/**
 * Migration batches end to end, through the real CLI against real Dovecot servers: CSV validation
 * on create, a 20-user batch through a source endpoint limited to 3 concurrent migrations, failures
 * classified with their remediation (wrong password, mailbox full, recipient not found), sync-now,
 * complete, remove (mailboxes untouched), and the notification mail received by an SMTP server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';
import { fillMailbox, generateCorpus, readMailbox, startDovecot } from '../src/testbed/index.js';
import type { DovecotServer } from '../src/testbed/index.js';
import { BIN, runCli } from './support/cli.js';

const SRC_PASS = 'src-pass';
const DST_PASS = 'dst-pass';
const ADMIN = { user: 'mailadmin', password: 'admin-pass' };
const work = mkdtempSync(join(tmpdir(), 'ms-batch-'));
const state = join(work, 'state.sqlite');
const env = { MAILSHIFT_SECRET_KEY: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' };
const good = Array.from({ length: 17 }, (_, i) => `u${String(i + 1).padStart(2, '0')}@example.com`);
const WRONG = 'wrongpw@example.com';
const FULL = 'full@example.com';
const GHOST = 'ghost@example.com';
let source: DovecotServer;
let target: DovecotServer;
let smtp: SMTPServer;
let smtpPort = 0;
const mails: Array<{ to: string[]; raw: string }> = [];
let serve: ChildProcess | null = null;
let serveLog = '';

function ms(args: string[], extra: NodeJS.ProcessEnv = {}) {
  return runCli([...args, '--state', state], { ...env, ...extra });
}

function startServe(extra: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'serve', '--state', state, '--poll', '300ms'], {
    env: { ...process.env, ...env, MAILSHIFT_CRASH_AT: '', MAILSHIFT_SMTP_URL: `smtp://127.0.0.1:${smtpPort}?starttls=off`, MAILSHIFT_SMTP_FROM: 'mailshift@localhost', ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => { serveLog += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { serveLog += d.toString(); });
  return child;
}

async function stopServe(): Promise<void> {
  if (!serve || serve.exitCode !== null) return;
  const exited = new Promise((resolve) => serve!.once('exit', resolve));
  serve.kill('SIGTERM');
  await exited;
}

function db(): BetterSqlite3.Database {
  return new BetterSqlite3(state, { readonly: true, fileMustExist: true });
}

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 90_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- serve log ---\n${serveLog.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function batchStatus(name: string): string | null {
  const d = db();
  try {
    return (d.prepare('select status from batches where name = ?').get(name) as { status: string } | undefined)?.status ?? null;
  } finally {
    d.close();
  }
}

function jsonOf<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON: ${r.stdout}\n${r.stderr}`);
  }
}

function csv(rows: string[][]): string {
  return rows.map((r) => r.join(',')).join('\r\n') + '\r\n';
}

before(async () => {
  const sourceUsers = [...good, WRONG, FULL, GHOST].map((user) => ({ user, password: SRC_PASS }));
  const targetUsers = [...good, WRONG].map((user) => ({ user, password: DST_PASS })).concat([{ user: FULL, password: DST_PASS, quotaBytes: 20_000 } as never]);
  [source, target] = await Promise.all([
    startDovecot({ name: 'batch-src', folderStyle: 'dovecot', users: sourceUsers }),
    startDovecot({ name: 'batch-dst', folderStyle: 'exchange', users: targetUsers, masterUser: ADMIN }),
  ]);
  await Promise.all([...good, WRONG, FULL, GHOST].map((user, i) => fillMailbox(source, { user, password: SRC_PASS },
    generateCorpus({ messages: 20 + (i % 4) * 10, seed: i + 1, folders: ['INBOX', 'Sent', 'Archive', 'Projects/Alpha'] }), { connections: 2 })));
  smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (d: Buffer) => { raw += d.toString(); });
      stream.on('end', () => { mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw }); callback(); });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  smtpPort = (smtp.server.address() as { port: number }).port;
  const add = (name: string, server: DovecotServer, extra: string[]) => ms(['endpoint', 'add', name, '--host', '127.0.0.1', '--port', String(server.imapsPort), '--security', 'ssl', '--ca', server.caFile, '--skip-verification', ...extra], { MAILSHIFT_ADMIN_PASSWORD: ADMIN.password });
  const a = await add('old-imap', source, ['--max-concurrent-migrations', '3', '--max-concurrent-incremental-syncs', '2']);
  assert.equal(a.code, 0, a.stderr + a.stdout);
  const b = await add('new-imap', target, ['--admin-user', ADMIN.user, '--admin-format', 'authzid']);
  assert.equal(b.code, 0, b.stderr + b.stdout);
});

after(async () => {
  await stopServe();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  await Promise.all([source?.stop(), target?.stop()]);
});

test('batch create validates the whole CSV first: every problem listed, nothing created; a second batch of the same name is refused', async () => {
  const bad = join(work, 'bad.csv');
  writeFileSync(bad, csv([['EmailAddress', 'UserName', 'Password'], ['a@example.com', 'a'], ['not-an-address', 'b', 'pw'], ['a@example.com', 'a', 'pw']]));
  const r = await ms(['batch', 'create', 'Bad', '--csv', bad, '--source', 'old-imap', '--target', 'new-imap', '--no-probe']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /Row 2 has the wrong number of columns\. Expected number: 3\. Actual number: 2\./);
  assert.match(r.stderr, /Row 3: .* is not a valid EmailAddress/);
  assert.match(r.stderr, /nothing was created/);
  const empty = join(work, 'empty.csv');
  writeFileSync(empty, '');
  const e = await ms(['batch', 'create', 'Bad', '--csv', empty, '--source', 'old-imap', '--target', 'new-imap', '--no-probe']);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /Upload file can't be empty/);
  const missing = join(work, 'missing.csv');
  writeFileSync(missing, 'EmailAddress,UserName\r\na@example.com,a\r\n');
  const m = await ms(['batch', 'create', 'Bad', '--csv', missing, '--source', 'old-imap', '--target', 'new-imap', '--no-probe']);
  assert.match(m.stderr, /Column "Password" is missing from the CSV file/);
  const list = await ms(['batch', 'list', '--json']);
  assert.deepEqual(JSON.parse(list.stdout), { batches: [] });

  const ok = join(work, 'one.csv');
  writeFileSync(ok, csv([['EmailAddress', 'UserName', 'Password'], ['u01@example.com', 'u01@example.com', SRC_PASS]]));
  const c1 = await ms(['batch', 'create', 'Dup', '--csv', ok, '--source', 'old-imap', '--target', 'new-imap']);
  assert.equal(c1.code, 0, c1.stderr);
  assert.match(c1.stdout, /status Created/);
  const c2 = await ms(['batch', 'create', 'dup', '--csv', ok, '--source', 'old-imap', '--target', 'new-imap', '--no-probe']);
  assert.equal(c2.code, 2);
  assert.match(c2.stderr, /The migration batch already exists\./);
  const illegal = await ms(['batch', 'complete', 'Dup']);
  assert.equal(illegal.code, 2);
  assert.match(illegal.stderr, /is Created: "complete" is not possible now/);
  const rm = await ms(['batch', 'remove', 'Dup']);
  assert.equal(rm.code, 0, rm.stderr);
  // The password is stored encrypted, never in plaintext.
  const d = db();
  const dump = JSON.stringify(d.prepare('select * from batch_users').all());
  d.close();
  assert.doesNotMatch(dump, new RegExp(SRC_PASS));
});

test('a 20-user batch through an endpoint limited to 3 concurrent migrations: never more than 3 at once; failures say why and what to do; sync-now, complete, notification, remove', async () => {
  const users = join(work, 'users.csv');
  writeFileSync(users, csv([
    ['EmailAddress', 'UserName', 'Password'],
    ...good.map((u) => [u, u, SRC_PASS]),
    [WRONG, WRONG, 'Wrong-Secret-123'],
    [FULL, FULL, SRC_PASS],
    [GHOST, GHOST, SRC_PASS],
  ]));
  const created = await ms(['batch', 'create', 'Wave1', '--csv', users, '--source', 'old-imap', '--target', 'new-imap', '--exclude', '#JunkEmail#', '--notify', 'admin@example.com', '--json']);
  assert.equal(created.code, 0, created.stderr + created.stdout);
  assert.equal((JSON.parse(created.stdout) as { users: number }).users, 20, created.stdout + created.stderr);
  const started = await ms(['batch', 'start', 'Wave1']);
  assert.equal(started.code, 0, started.stderr);

  serve = startServe();
  let maxConcurrent = 0;
  const d = db();
  const concurrent = d.prepare("select count(*) as n from batch_users where lease_owner is not null and status in ('Syncing','IncrementalSyncing','Completing')");
  const status = d.prepare('select status from batches where name = ?');
  const final = await waitFor('Wave1 to finish syncing', () => {
    maxConcurrent = Math.max(maxConcurrent, (concurrent.get() as { n: number }).n);
    const s = (status.get('Wave1') as { status: string }).status;
    return s === 'SyncedWithErrors' || s === 'Synced' || s === 'Failed' ? s : null;
  }, 150_000, 20);
  d.close();
  assert.equal(final, 'SyncedWithErrors');
  assert.ok(maxConcurrent <= 3, `at most 3 users at once, saw ${maxConcurrent}`);
  assert.ok(maxConcurrent >= 2, `the runner used the allowed concurrency, saw ${maxConcurrent}`);

  const shown = jsonOf((await ms(['batch', 'users', 'Wave1', '--json']))) as { users: Array<{ emailAddress: string; status: string; itemsSynced: number; error: { code: string; remediation: string } | null }> };
  const by = new Map(shown.users.map((u) => [u.emailAddress, u]));
  for (const u of good) assert.equal(by.get(u)?.status, 'Synced', `${u}: ${JSON.stringify(by.get(u))}`);
  assert.equal(by.get(WRONG)?.status, 'Failed');
  assert.equal(by.get(WRONG)?.error?.code, 'AUTH_FAILED');
  assert.equal(by.get(FULL)?.status, 'Failed');
  assert.equal(by.get(FULL)?.error?.code, 'TARGET_OVERQUOTA');
  assert.equal(by.get(GHOST)?.status, 'Failed');
  assert.equal(by.get(GHOST)?.error?.code, 'AUTH_RECIPIENT_NOT_FOUND');

  // Every good mailbox is on the target, exactly once.
  for (const u of good.slice(0, 4)) {
    const [s, t] = await Promise.all([readMailbox(source, { user: u, password: SRC_PASS }), readMailbox(target, { user: u, password: DST_PASS })]);
    assert.equal(t.length, s.length, u);
    assert.equal(by.get(u)?.itemsSynced, s.length);
  }

  const report = await ms(['batch', 'report', 'Wave1', '--format', 'csv']);
  assert.equal(report.code, 0, report.stderr);
  assert.match(report.stdout, /We had trouble signing in to this account/);
  assert.match(report.stdout, /This mailbox is full/);
  assert.match(report.stdout, /A recipient wasn't found for ghost@example\.com on the target/);
  assert.match(report.stdout, /Raise the quota of the target mailbox/);
  assert.doesNotMatch(report.stdout + serveLog, /Wrong-Secret-123|src-pass|admin-pass/);
  const json = jsonOf((await ms(['batch', 'report', 'Wave1', '--format', 'json']))) as { users: unknown[] };
  assert.equal(json.users.length, 20);
  const show = await ms(['batch', 'show', 'Wave1']);
  assert.match(show.stdout, /SyncedWithErrors/);

  // The notification went out once, "with errors".
  await waitFor('the notification mail', () => mails.length >= 1, 20_000);
  assert.deepEqual(mails[0]!.to, ['admin@example.com']);
  assert.match(mails[0]!.raw, /E-mail migration batch "Wave1" has finished - with errors/);

  // The admin fixes the quota and retries: the full mailbox resumes and completes; add-users refuses a user already in the batch.
  await target.setUserQuota(FULL, null);
  const again = await ms(['batch', 'add-users', 'Wave1', '--csv', users]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /Row 2: the EmailAddress u01@example\.com is already in this batch/);
  const retry = await ms(['batch', 'retry', 'Wave1']);
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /3 failed user\(s\)/);
  await waitFor('the retried mailbox', () => {
    const x = db();
    try {
      const row = x.prepare('select status from batch_users where email_address = ?').get(FULL) as { status: string };
      const b = x.prepare('select status from batches where name = ?').get('Wave1') as { status: string };
      return row.status === 'Synced' && b.status === 'SyncedWithErrors';
    } finally {
      x.close();
    }
  });
  const [sf, tf] = await Promise.all([readMailbox(source, { user: FULL, password: SRC_PASS }), readMailbox(target, { user: FULL, password: DST_PASS })]);
  assert.equal(tf.length, sf.length, 'the retried mailbox is complete, nothing copied twice');

  // New mail after the MX switch: sync-now picks it up.
  const u1 = good[0]!;
  await fillMailbox(source, { user: u1, password: SRC_PASS }, generateCorpus({ messages: 3, seed: 99, folders: ['INBOX'] }));
  const sn = await ms(['batch', 'sync-now', 'Wave1']);
  assert.equal(sn.code, 0, sn.stderr);
  await waitFor('the incremental sync of u01', () => {
    const x = db();
    try {
      const row = x.prepare('select status, items_synced from batch_users where email_address = ?').get(u1) as { status: string; items_synced: number };
      return row.status === 'IncrementalSynced' ? row : null;
    } finally {
      x.close();
    }
  });
  const [s1, t1] = await Promise.all([readMailbox(source, { user: u1, password: SRC_PASS }), readMailbox(target, { user: u1, password: DST_PASS })]);
  assert.equal(t1.length, s1.length);

  // Complete: a final sync, then Completed (with errors: three users failed).
  const done = await ms(['batch', 'complete', 'Wave1']);
  assert.equal(done.code, 0, done.stderr);
  await waitFor('Wave1 completed', () => (batchStatus('Wave1') === 'CompletedWithErrors' ? true : null));
  const afterComplete = jsonOf((await ms(['batch', 'users', 'Wave1', '--json']))) as { users: Array<{ status: string }> };
  assert.equal(afterComplete.users.filter((u) => u.status === 'Completed').length, 18, `the 17 good users and the retried one: ${JSON.stringify(afterComplete.users)}\n${serveLog.slice(-3000)}`);

  // Remove: the batch and its sync state go; the mailboxes stay as they are.
  const beforeRemove = await readMailbox(target, { user: good[1]!, password: DST_PASS });
  const rm = await ms(['batch', 'remove', 'Wave1']);
  assert.equal(rm.code, 0, rm.stderr);
  await waitFor('Wave1 removed', () => (batchStatus('Wave1') === null ? true : null));
  const x = db();
  const left = (x.prepare('select count(*) as n from message_ledger').get() as { n: number }).n;
  x.close();
  assert.equal(left, 0, 'the ledger of the removed batch is gone');
  assert.equal((await readMailbox(target, { user: good[1]!, password: DST_PASS })).length, beforeRemove.length);
  assert.equal((await readMailbox(source, { user: good[1]!, password: SRC_PASS })).length, beforeRemove.length);
  await stopServe();
  assert.match(serveLog, /stopped/);
});
