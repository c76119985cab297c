/** The SQLite ledger keeps exactly the semantics the engine relies on (the in-memory double mirrors it). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/open-sqlite.js';
import { MigrationStateRepository } from '../src/store/migration-state-repository.js';
import { acquireMailboxLock, ensureMailbox } from '../src/store/mailbox-registry.js';
import type { LedgerEntry } from '../src/engine/state-port.js';

const entry = (uid: number, overrides: Partial<LedgerEntry> = {}): LedgerEntry => ({
  sourcePath: 'INBOX', sourceUid: uid, targetPath: 'INBOX', targetUid: null, contentKey: `k${uid}`, size: 100 + uid,
  internalDate: 1_700_000_000_000 + uid, flags: ['\\Seen'], status: 'pending', skipReason: null, subject: null, detail: null, ...overrides,
});

test('intents, commits in bulk, discards, flag updates, and the UIDVALIDITY resets', async () => {
  const db = await openSqliteStore(join(mkdtempSync(join(tmpdir(), 'ms-state-')), 'state.sqlite'));
  const id = await ensureMailbox(db, { pairKey: 'a -> b', sourceLabel: 'a', targetLabel: 'b' }, 0);
  assert.equal(await ensureMailbox(db, { pairKey: 'a -> b', sourceLabel: 'a', targetLabel: 'b' }, 0), id, 'one row per pair');
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
