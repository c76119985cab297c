/** The SQLite ledger keeps exactly the semantics the engine relies on (the in-memory double mirrors it). */
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { openSqliteStore } from '../src/store/open-sqlite.js';
import { MigrationStateRepository } from '../src/store/migration-state-repository.js';
import { acquireMailboxLock, ensureMailbox } from '../src/store/mailbox-registry.js';
import { rawSqliteOf } from '../src/store/raw-sqlite.js';
import { migrateSchema } from '../src/store/schema-migrations.js';
import type { Database } from '../src/store/schema.js';
import type { LedgerEntry } from '../src/engine/state-port.js';

const entry = (uid: number, overrides: Partial<LedgerEntry> = {}): LedgerEntry => ({
  sourcePath: 'INBOX', sourceUid: uid, targetPath: 'INBOX', targetUid: null, contentKey: `k${uid}`, size: 100 + uid,
  internalDate: 1_700_000_000_000 + uid, flags: ['\\Seen'], status: 'pending', skipReason: null, subject: null, detail: null, ...overrides,
});

test('intents, commits in bulk, discards, flag updates, and the UIDVALIDITY resets', async () => {
  const db = await openSqliteStore(join(mkdtempSync(join(tmpdir(), 'ms-state-')), 'state.sqlite'));
  const id = await ensureMailbox(db, { pairKey: 'a -> b', sourceLabel: 'a', targetLabel: 'b' }, 0);
  assert.equal(await ensureMailbox(db, { pairKey: 'a -> b', sourceLabel: 'a', targetLabel: 'b' }, 0), id, 'one row per pair');
  assert.ok(rawSqliteOf(db), 'the SQLite store takes the prepared-statement path');
  const repo = new MigrationStateRepository(db, id, () => 42);
  const entries = Array.from({ length: 1000 }, (_, i) => entry(i + 1));
  await repo.upsert(entries);
  await repo.commit('INBOX', entries.map((e) => ({ sourceUid: e.sourceUid, targetUid: e.sourceUid % 7 === 0 ? null : e.sourceUid + 5000 })));
  const got = await repo.entries('INBOX');
  assert.equal(got.length, 1000);
  assert.ok(got.every((e) => e.status === 'copied' && e.targetUid === (e.sourceUid % 7 === 0 ? null : e.sourceUid + 5000)));
  assert.equal((await repo.claimedTargetUids('INBOX')).size, 1000 - 142);

  await repo.discard('INBOX', [1, 2, 3]);
  await repo.updateFlags('INBOX', [{ sourceUid: 4, flags: ['\\Flagged'] }]);
  const after = new Map((await repo.entries('INBOX')).map((e) => [e.sourceUid, e]));
  assert.equal(after.size, 997);
  assert.deepEqual(after.get(4)!.flags, ['\\Flagged']);
  // Per folder, this mailbox's only: another pair's ledger is not counted.
  const other = new MigrationStateRepository(db, await ensureMailbox(db, { pairKey: 'c -> d', sourceLabel: 'c', targetLabel: 'd' }, 0), () => 42);
  await other.upsert([entry(1)]);
  await repo.upsert([{ ...entry(1), sourcePath: 'Sent', targetPath: 'Sent' }]);
  assert.deepEqual([...(await repo.entryCounts())].sort(), [['INBOX', 997], ['Sent', 1]]);
  await repo.discard('Sent', [1]);

  await repo.putFolder({ sourcePath: 'INBOX', targetPath: 'INBOX', sourceUidValidity: 2n ** 40n, targetUidValidity: 7n, highestModseq: 2n ** 62n, lastSyncAt: 5, scanSignature: 'x' });
  const folder = await repo.getFolder('INBOX');
  assert.equal(folder!.sourceUidValidity, 2n ** 40n);
  assert.equal(folder!.highestModseq, 2n ** 62n);

  await repo.forgetTargetUids('INBOX');
  assert.ok((await repo.entries('INBOX')).every((e) => e.status === 'pending' && e.targetUid === null));
  await repo.resetFolder('INBOX');
  assert.equal((await repo.entries('INBOX')).length, 0);
  assert.equal(await repo.getFolder('INBOX'), null);
  await db.destroy();
});

/** A store the repository cannot see a raw handle behind: it must keep to Kysely (the path PostgreSQL will take). */
async function kyselyOnlyStore(): Promise<Kysely<Database>> {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
  await migrateSchema(db);
  return db;
}

/** Every ledger call the engine makes, including a failing one that must leave nothing behind; returns the rows. */
async function exerciseLedger(db: Kysely<Database>): Promise<unknown[]> {
  const id = await ensureMailbox(db, { pairKey: 'p', sourceLabel: 'p', targetLabel: 'q' }, 0);
  let clock = 100;
  const repo = new MigrationStateRepository(db, id, () => ++clock);
  const inbox = Array.from({ length: 1000 }, (_, i) => entry(i + 1));
  await repo.upsert(inbox);
  await repo.upsert([entry(1, { sourcePath: 'Sent', targetPath: 'Sent Items' }), entry(2, { sourcePath: 'Sent', targetPath: 'Sent Items' })]);
  await repo.commit('INBOX', inbox.slice(0, 600).map((e) => ({ sourceUid: e.sourceUid, targetUid: e.sourceUid % 5 === 0 ? null : e.sourceUid + 10 })));
  await repo.commit('Sent', [{ sourceUid: 2, targetUid: 7 }]);
  // Replacing existing entries (skip records) goes through the conflict branch.
  await repo.upsert([
    entry(700, { status: 'skipped', skipReason: 'too-large', subject: 'big', detail: '60 MB', size: 60_000_000, flags: [] }),
    entry(701, { targetPath: 'Elsewhere', contentKey: 'other', internalDate: 5 }),
  ]);
  // One bad row in the second chunk: the whole call rolls back, including the rows before it.
  const broken = Array.from({ length: 600 }, (_, i) => entry(2000 + i, i === 500 ? { contentKey: null as unknown as string } : {}));
  await assert.rejects(repo.upsert(broken), /NOT NULL/);
  await repo.commit('INBOX', [{ sourceUid: 9999, targetUid: 1 }]);
  await repo.discard('INBOX', [3, 4, 5, 9999]);
  await repo.discard('INBOX', []);
  await repo.updateFlags('INBOX', [{ sourceUid: 6, flags: ['\\Flagged', '$Label1'] }, { sourceUid: 800, flags: [] }]);
  // 600 committed, 120 of them without a target uid, and uids 3 and 4 discarded (5 had none).
  assert.equal((await repo.claimedTargetUids('INBOX')).size, 600 - 120 - 2);
  return db.selectFrom('message_ledger').selectAll().orderBy('source_path').orderBy('source_uid').execute();
}

test('the prepared-statement path and the Kysely path leave identical ledgers', async () => {
  const fast = await openSqliteStore(join(mkdtempSync(join(tmpdir(), 'ms-state-')), 'state.sqlite'));
  const fallback = await kyselyOnlyStore();
  assert.ok(rawSqliteOf(fast));
  assert.equal(rawSqliteOf(fallback), null);
  const fastRows = await exerciseLedger(fast);
  const fallbackRows = await exerciseLedger(fallback);
  assert.equal(fastRows.length, 1002 - 3);
  assert.deepEqual(fastRows, fallbackRows);
  await fast.destroy();
  await fallback.destroy();
});

test('a ledger write is never part of another caller\'s open Kysely transaction', async () => {
  const db = await openSqliteStore(join(mkdtempSync(join(tmpdir(), 'ms-state-')), 'state.sqlite'));
  const id = await ensureMailbox(db, { pairKey: 'a -> b', sourceLabel: 'a', targetLabel: 'b' }, 0);
  const repo = new MigrationStateRepository(db, id, () => 42);
  const order: string[] = [];
  let inserted!: () => void;
  const insideTransaction = new Promise<void>((resolve) => { inserted = resolve; });
  const doomed = db.transaction().execute(async (trx) => {
    await trx.insertInto('message_ledger').values({
      mailbox_id: id, source_path: 'INBOX', source_uid: 1, target_path: 'INBOX', target_uid: null, content_key: 'k1', size: 1,
      internal_date: 1, flags: '[]', status: 'pending', skip_reason: null, subject: null, detail: null, updated_at: 1,
    }).execute();
    inserted();
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('rollback');
    throw new Error('roll back');
  });
  await insideTransaction;
  const write = repo.upsert([entry(2)]).then(() => { order.push('upsert'); });
  await assert.rejects(doomed, /roll back/);
  await write;
  assert.deepEqual(order, ['rollback', 'upsert'], 'the write waited for the transaction to end');
  assert.deepEqual((await repo.entries('INBOX')).map((e) => e.sourceUid), [2], 'the write survived the rollback');
  await db.destroy();
});

test('the mailbox lock refuses a live holder and takes over from a dead one', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ms-lock-')), 'state.sqlite');
  const db = await openSqliteStore(path);
  const id = await ensureMailbox(db, { pairKey: 'x', sourceLabel: 'x', targetLabel: 'y' }, 0);
  // A lock row left by a process that no longer exists (pid 2^22+1 is never a live pid here).
  await db.insertInto('mailbox_locks').values({ mailbox_id: id, owner: 'dead', pid: 4_194_305, host: (await import('node:os')).hostname(), acquired_at: 0 }).execute();
  const release = await acquireMailboxLock(db, id, 'x -> y', path, 1);
  // Our own pid holds it now; a different live process (pid 1) must be refused.
  await db.updateTable('mailbox_locks').set({ pid: 1 }).where('mailbox_id', '=', id).execute();
  await assert.rejects(acquireMailboxLock(db, id, 'x -> y', path, 2), (err: Error) => /Another mailshift process is migrating x -> y/.test(err.message));
  await db.updateTable('mailbox_locks').set({ pid: process.pid }).where('mailbox_id', '=', id).execute();
  await release();
  assert.equal((await db.selectFrom('mailbox_locks').selectAll().execute()).length, 0);
  await db.destroy();
});

test('a mailbox lock is taken while another process writes to the state database: it waits for that writer instead of failing with "database is locked"', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ms-lock-writer-')), 'state.sqlite');
  const db = await openSqliteStore(path);
  try {
    const mailboxId = await ensureMailbox(db, { pairKey: 'w', sourceLabel: 's', targetLabel: 't' }, 1);
    // Another process (serve, or a CLI command beside it) holds the write lock for a moment, then commits.
    const writer = spawn(process.execPath, ['-e', `
      const db = new (require('better-sqlite3'))(${JSON.stringify(path)});
      db.pragma('busy_timeout = 10000');
      db.prepare('BEGIN IMMEDIATE').run();
      db.prepare("INSERT INTO mailboxes (pair_key, source_label, target_label, created_at) VALUES ('other', 's', 't', 2)").run();
      process.stdout.write('locked\\n');
      setTimeout(() => { db.prepare('COMMIT').run(); db.close(); }, 400);
    `], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => writer.stdout!.once('data', () => resolve()));
    const release = await acquireMailboxLock(db, mailboxId, 'w', path, 3);
    await release();
    await new Promise((resolve) => writer.once('exit', resolve));
    assert.ok(await db.selectFrom('mailboxes').select('id').where('pair_key', '=', 'other').executeTakeFirst(), 'the other process committed');
  } finally {
    await db.destroy();
  }
});
