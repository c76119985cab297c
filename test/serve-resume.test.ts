/**
 * `mailshift serve` against real Dovecot: stop and start a running batch, SIGKILL the service in the
 * middle and restart it (the batch completes, no duplicates), incremental sync picking up new mail
 * on a short interval, graceful SIGTERM; `batch run` in the foreground with per-user warnings; the
 * Gmail warning at create.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { fillMailbox, generateCorpus, readMailbox, startDovecot } from '../src/testbed/index.js';
import type { DovecotServer } from '../src/testbed/index.js';
import { BIN, runCli } from './support/cli.js';

const PASS = 'pw-src';
const TPASS = 'pw-dst';
const work = mkdtempSync(join(tmpdir(), 'ms-serve-'));
const state = join(work, 'state.sqlite');
const env = { MAILSHIFT_SECRET_KEY: 'fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210' };
const users = Array.from({ length: 6 }, (_, i) => `r${i + 1}@example.com`);
const extra = ['solo1@example.com', 'solo2@example.com', 'gm@example.com'];
let source: DovecotServer;
let target: DovecotServer;
let serveLog = '';

function ms(args: string[]) {
  return runCli([...args, '--state', state], env);
}

function startServe(): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'serve', '--state', state, '--poll', '250ms'], {
    // Counters refreshed every 100 ms while a mailbox copies (2 s by default): a fast machine copies
    // a mailbox here in less than that, and the test must see it mid-copy.
    env: { ...process.env, ...env, MAILSHIFT_CRASH_AT: '', MAILSHIFT_LEASE: '5s', MAILSHIFT_PROGRESS: '100ms' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => { serveLog += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { serveLog += d.toString(); });
  return child;
}

function query<T>(sql: string, ...params: unknown[]): T[] {
  const d = new BetterSqlite3(state, { readonly: true, fileMustExist: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- serve log ---\n${serveLog.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const batchStatus = (name: string) => query<{ status: string }>('select status from batches where name = ?', name)[0]?.status ?? null;

function digest(messages: Array<{ raw: Buffer }>): string[] {
  return messages.map((m) => createHash('sha256').update(m.raw).digest('hex')).sort();
}

function csvFor(list: string[]): string {
  return ['EmailAddress,UserName,Password,TargetUserName,TargetPassword', ...list.map((u) => `${u},${u},${PASS},${u},${TPASS}`)].join('\n');
}

before(async () => {
  [source, target] = await Promise.all([
    startDovecot({ name: 'serve-src', folderStyle: 'dovecot', users: [...users, ...extra].map((user) => ({ user, password: PASS })) }),
    startDovecot({ name: 'serve-dst', folderStyle: 'exchange', users: [...users, ...extra].map((user) => ({ user, password: TPASS })) }),
  ]);
  await Promise.all(users.map((user, i) => fillMailbox(source, { user, password: PASS }, generateCorpus({ messages: 1500, seed: 40 + i }), { connections: 3 })));
  await Promise.all(extra.map((user, i) => fillMailbox(source, { user, password: PASS }, generateCorpus({ messages: 20, seed: 80 + i, folders: ['INBOX', 'Sent'] }))));
  await fillMailbox(source, { user: 'gm@example.com', password: PASS }, generateCorpus({ messages: 2, seed: 7, folders: ['[Gmail]/All Mail'] }));
  // Both "Sent" (\Sent) and a "Sent Items" of its own, as a mailbox that changed mail clients has:
  // on the Exchange-style target both map to "Sent Items", which the user's report must warn about.
  await fillMailbox(source, { user: 'solo2@example.com', password: PASS }, generateCorpus({ messages: 3, seed: 90, folders: ['Sent Items'] }));
  const add = (name: string, server: DovecotServer) => ms(['endpoint', 'add', name, '--host', '127.0.0.1', '--port', String(server.imapsPort), '--ca', server.caFile, '--skip-verification', '--max-concurrent-migrations', '3']);
  assert.equal((await add('src', source)).code, 0);
  assert.equal((await add('dst', target)).code, 0);
});

after(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

test('stop and start a running batch; SIGKILL the service mid-batch and restart it: the batch completes with no duplicates; incremental sync picks up new mail; SIGTERM is graceful', async () => {
  writeFileSync(join(work, 'r.csv'), csvFor(users));
  const c = await ms(['batch', 'create', 'Resume', '--csv', join(work, 'r.csv'), '--source', 'src', '--target', 'dst', '--auto-start', '--incremental-interval', '3s', '--no-probe']);
  assert.equal(c.code, 0, c.stderr);
  let serve = startServe();

  await waitFor('a user copying', () => query<{ n: number }>("select count(*) as n from batch_users where status = 'Syncing' and items_synced > 0")[0]!.n > 0);
  const stop = await ms(['batch', 'stop', 'Resume']);
  assert.equal(stop.code, 0, stop.stderr);
  await waitFor('Resume stopped', () => batchStatus('Resume') === 'Stopped');
  assert.equal(query<{ n: number }>('select count(*) as n from batch_users where lease_owner is not null')[0]!.n, 0);
  assert.ok(query<{ status: string }>('select status from batch_users').every((u) => u.status === 'Stopped' || u.status === 'Synced'));
  const illegal = await ms(['batch', 'stop', 'Resume']);
  assert.equal(illegal.code, 2);
  assert.match(illegal.stderr, /is Stopped: "stop" is not possible now/);

  const syncedAtStop = new Map(query<{ email_address: string; items_synced: number }>('select email_address, items_synced from batch_users').map((r) => [r.email_address, r.items_synced]));
  assert.equal((await ms(['batch', 'start', 'Resume'])).code, 0);
  // Killed as soon as a user has copied more since the stop: mid-copy however fast the machine.
  await waitFor('copying again', () => query<{ email_address: string; items_synced: number }>("select email_address, items_synced from batch_users where status = 'Syncing' and lease_owner is not null")
    .some((r) => r.items_synced > (syncedAtStop.get(r.email_address) ?? 0)));
  serve.kill('SIGKILL');
  await new Promise((r) => serve.once('exit', r));
  const orphaned = query<{ n: number }>('select count(*) as n from batch_users where lease_owner is not null')[0]!.n;
  assert.ok(orphaned > 0, 'the killed service left leases behind');

  serve = startServe();
  await waitFor('Resume synced after the restart', () => ['Synced', 'IncrementalSyncing'].includes(batchStatus('Resume') ?? '') && query<{ n: number }>("select count(*) as n from batch_users where status not in ('Synced','IncrementalSynced','IncrementalSyncing')")[0]!.n === 0, 150_000);
  for (const user of users) {
    const [s, t] = await Promise.all([readMailbox(source, { user, password: PASS }), readMailbox(target, { user, password: TPASS })]);
    assert.deepEqual(digest(t), digest(s), `${user}: every message exactly once`);
  }

  // New mail on the source is picked up by the next incremental sync (interval 3 s here).
  const u = users[0]!;
  await fillMailbox(source, { user: u, password: PASS }, generateCorpus({ messages: 5, seed: 999, folders: ['INBOX'] }));
  const expected = (await readMailbox(source, { user: u, password: PASS })).length;
  await waitFor('the incremental sync', () => query<{ items_synced: number; status: string }>('select items_synced, status from batch_users where email_address = ?', u)
    .some((r) => r.items_synced === expected && r.status === 'IncrementalSynced'), 60_000);
  assert.equal((await readMailbox(target, { user: u, password: TPASS })).length, expected);

  serve.kill('SIGTERM');
  const code = await new Promise((r) => serve.once('exit', r));
  assert.equal(code, 0, serveLog.slice(-2000));
  assert.equal(query<{ n: number }>('select count(*) as n from batch_users where lease_owner is not null')[0]!.n, 0, 'leases released on SIGTERM');
});

test('batch run syncs one batch in the foreground; a sync\'s warnings stay with its user (report, users table, show); a Gmail-looking source without "[Gmail]" excluded gets the label-duplicates warning', async () => {
  writeFileSync(join(work, 's.csv'), csvFor(extra.slice(0, 2)));
  assert.equal((await ms(['batch', 'create', 'Solo', '--csv', join(work, 's.csv'), '--source', 'src', '--target', 'dst', '--no-probe'])).code, 0);
  // A bad option is refused before the batch is touched.
  const bad = await ms(['batch', 'run', 'Solo', '--max-connections', '0']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--max-connections: "0" must be a whole number from 1 to 10000/);
  assert.equal(batchStatus('Solo'), 'Created', 'not started by a refused command');
  const run = await ms(['batch', 'run', 'Solo', '--json', '--max-connections', '8']);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  const report = JSON.parse(run.stdout) as { batch: { status: string; totals: { synced: number } }; users: Array<{ emailAddress: string; warnings: string[] }> };
  assert.equal(report.batch.status, 'Synced');
  assert.equal(report.batch.totals.synced, 2);
  // A sync's warnings stay with its user: in the report, the users table and the API's views.
  const warnings = Object.fromEntries(report.users.map((u) => [u.emailAddress, u.warnings]));
  assert.deepEqual(warnings['solo1@example.com'], []);
  assert.equal(warnings['solo2@example.com']?.length, 1, JSON.stringify(warnings));
  assert.match(warnings['solo2@example.com']![0]!, /^Both "Sent" and "Sent Items" map to "Sent Items"; "Sent Items" goes to "[^"]+" instead\.$/);
  const table = await ms(['batch', 'users', 'Solo']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /Warnings of the last sync:\n  solo2@example\.com: Both "Sent" and "Sent Items" map to "Sent Items"/);
  assert.match((await ms(['batch', 'show', 'Solo'])).stdout, /Users warned\s+1 /);

  writeFileSync(join(work, 'g.csv'), csvFor(['gm@example.com']));
  const g = await ms(['batch', 'create', 'Gmail', '--csv', join(work, 'g.csv'), '--source', 'src', '--target', 'dst']);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /Warning: The source looks like Gmail and the folder "\[Gmail\]" is not excluded/);
  const g2 = await ms(['batch', 'create', 'Gmail2', '--csv', join(work, 'g.csv'), '--source', 'src', '--target', 'dst', '--exclude', '[Gmail]']);
  assert.doesNotMatch(g2.stdout, /looks like Gmail/);
});
