/** Batch state machines (pure) and the repository's claims with leases, on an in-memory SQLite store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BATCH_STATUSES, COMMANDS_ALLOWED, USER_STATUSES, USER_TRANSITIONS, assertCommandAllowed, countUsers, deriveBatchStatus,
  isLegalUserTransition, parseDuration,
} from '../src/batch/batch-status.js';
import type { UserStatus } from '../src/batch/batch-status.js';
import type { Endpoint } from '../src/endpoint/endpoint-model.js';
import { isMailshiftError } from '../src/domain/errors.js';
import { BatchRepository } from '../src/store/batch-repository.js';
import { openSqliteStore } from '../src/store/open-sqlite.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBatchContext } from '../src/app/batch-wiring.js';
import { BatchRunner } from '../src/jobs/batch-runner.js';
import { completeBatch, settleStatus } from '../src/app/batch-service.js';
import { MAX_USER_WARNINGS, userWarnings, warningsColumn } from '../src/store/batch-schema.js';

const derive = (current: Parameters<typeof deriveBatchStatus>[0], users: UserStatus[], withErrors = false) => deriveBatchStatus(current, countUsers(users), withErrors);

test('batch status is derived from the users', () => {
  assert.equal(derive('Starting', ['Queued', 'Queued']), 'Starting');
  assert.equal(derive('Starting', ['Syncing', 'Queued']), 'Syncing');
  assert.equal(derive('Syncing', ['Synced', 'Queued']), 'Syncing');
  assert.equal(derive('Syncing', ['Synced', 'Synced']), 'Synced');
  assert.equal(derive('Syncing', ['Synced', 'Failed']), 'SyncedWithErrors');
  assert.equal(derive('Syncing', ['Synced', 'Synced'], true), 'SyncedWithErrors');
  assert.equal(derive('Syncing', ['Failed', 'Failed']), 'Failed');
  assert.equal(derive('Synced', ['IncrementalSyncing', 'Synced']), 'IncrementalSyncing');
  assert.equal(derive('IncrementalSyncing', ['IncrementalSynced', 'IncrementalFailed']), 'SyncedWithErrors');
  assert.equal(derive('Stopping', ['Syncing', 'Stopped']), 'Stopping');
  assert.equal(derive('Stopping', ['Stopped', 'Synced']), 'Stopped');
  assert.equal(derive('Completing', ['Completing', 'Completed']), 'Completing');
  assert.equal(derive('Completing', ['Completed', 'Completed']), 'Completed');
  assert.equal(derive('Completing', ['Completed', 'Failed']), 'CompletedWithErrors');
  for (const fixed of ['Created', 'Stopped', 'Completed', 'CompletedWithErrors', 'Removing'] as const) assert.equal(derive(fixed, ['Syncing']), fixed);
});

test('only legal transitions; an illegal command names the status and what is allowed', () => {
  for (const from of USER_STATUSES) for (const to of USER_TRANSITIONS[from]) assert.ok((USER_STATUSES as readonly string[]).includes(to));
  assert.ok(isLegalUserTransition('Queued', 'Syncing'));
  assert.ok(!isLegalUserTransition('Completed', 'Syncing'));
  assert.ok(!isLegalUserTransition('Queued', 'Synced'));
  for (const cmd of Object.keys(COMMANDS_ALLOWED) as Array<keyof typeof COMMANDS_ALLOWED>) {
    for (const s of COMMANDS_ALLOWED[cmd]) assert.ok((BATCH_STATUSES as readonly string[]).includes(s));
  }
  assert.doesNotThrow(() => assertCommandAllowed('W', 'Created', 'start'));
  try {
    assertCommandAllowed('W', 'Created', 'complete');
    assert.fail('complete on a Created batch must be refused');
  } catch (err) {
    assert.ok(isMailshiftError(err));
    assert.equal(err.code, 'BATCH_ILLEGAL_TRANSITION');
    assert.match(err.message, /"W" is Created: "complete" is not possible now/);
    assert.match(err.remediation, /possible when the batch is Synced, SyncedWithErrors, IncrementalSyncing/);
    assert.match(err.remediation, /you can: start, remove, add-users/);
  }
});

test('durations', () => {
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('300ms'), 300);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('soon'), null);
});

test('claims respect the source endpoint limits across batches, skip leased users, and dead leases are reclaimed', async () => {
  const db = await openSqliteStore(':memory:');
  const repo = new BatchRepository(db);
  const now = 1_000_000;
  const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({
    row_number: i + 2, email_address: `${prefix}${i}@example.com`, user_name: `${prefix}${i}`, password_enc: 'x', user_root: null, target_user_name: null, target_password_enc: null,
  }));
  const spec = (name: string) => ({
    name, source_endpoint_id: 1, target_endpoint_id: 2, status: 'Starting', exclude_folders: '[]', since: null, max_message_size: 1, auto_start: 1,
    start_after: null, complete_after: null, notify: '[]', incremental_interval_ms: 1000, warnings: '[]',
  });
  const a = await repo.createBatch(spec('A'), users('a', 5), now);
  await repo.createBatch(spec('B'), users('b', 5), now);
  await assert.rejects(repo.createBatch(spec('a'), [], now), /already exists/);
  const limits = () => ({ maxConcurrentMigrations: 3, maxConcurrentIncrementalSyncs: 1 });
  const first = await repo.claim({ owner: 'h:1:x', now, leaseMs: 1000, max: 10, limitsFor: limits });
  assert.equal(first.length, 3, 'three at once for the endpoint, over both batches');
  assert.ok(first.every((c) => c.user.status === 'Syncing' && c.kind === 'initial'));
  const second = await repo.claim({ owner: 'h:2:y', now, leaseMs: 1000, max: 10, limitsFor: limits });
  assert.equal(second.length, 0, 'another runner gets nothing while the leases are live');
  // The first runner "dies": its leases are reclaimed, the users are Queued again.
  const freed = await repo.reapLeases(now + 10, (owner) => owner === 'h:1:x');
  assert.equal(freed, 3);
  const third = await repo.claim({ owner: 'h:2:y', now: now + 20, leaseMs: 1000, max: 10, limitsFor: limits });
  assert.equal(third.length, 3);
  // Expired leases are reclaimed too.
  assert.equal(await repo.reapLeases(now + 5000, () => false), 3);
  // Incremental syncs count against their own, lower limit.
  await repo.updateUsersWhere(a.id, ['Queued'], { status: 'Synced', next_sync_at: now }, now);
  await repo.updateUsersWhere(a.id, ['Syncing'], { status: 'Synced', next_sync_at: now, lease_owner: null }, now);
  const inc = await repo.claim({ owner: 'h:3:z', now: now + 6000, leaseMs: 1000, max: 10, onlyBatchId: a.id, limitsFor: limits });
  assert.equal(inc.length, 1);
  assert.equal(inc[0]!.kind, 'incremental');
  assert.equal(inc[0]!.user.status, 'IncrementalSyncing');
  await db.destroy();
});

test('complete: a runner settling the status at any moment meanwhile never finishes the batch before the final syncs', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ms-batch-complete-'));
  const statePath = join(work, 'state.sqlite');
  const env = { MAILSHIFT_SECRET_KEY: 'd'.repeat(64) };
  const base = await openBatchContext({ statePath, env });
  // `serve` in another process: its own connection to the same database.
  const runnerSide = await openBatchContext({ statePath, env });
  const now = 7_000_000;
  try {
    const user = (email: string, status: string) => ({
      row_number: 2, email_address: email, user_name: email, password_enc: 'x', user_root: null, target_user_name: null, target_password_enc: null, status,
    });
    const batch = await base.repo.createBatch({
      name: 'Cut', source_endpoint_id: 1, target_endpoint_id: 2, status: 'SyncedWithErrors', exclude_folders: '[]', since: null, max_message_size: 1, auto_start: 1,
      start_after: null, complete_after: null, notify: '[]', incremental_interval_ms: 86_400_000, warnings: '[]',
    }, [user('ok1@example.com', 'Queued'), user('ok2@example.com', 'Queued'), user('bad@example.com', 'Queued')], now);
    await base.repo.updateUsersWhere(batch.id, ['Queued'], { status: 'Synced' }, now);
    await base.repo.db.updateTable('batch_users').set({ status: 'Failed' }).where('email_address', '=', 'bad@example.com').execute();
    // The runner settles after every write the command makes.
    const settled: string[] = [];
    const repo = new Proxy(base.repo, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (/^(update|start)/.test(String(prop))) settled.push((await settleStatus(runnerSide, batch.id))[1]);
          return result;
        };
      },
    });
    await completeBatch({ ...base, repo }, 'Cut');
    assert.ok(settled.length > 0);
    assert.deepEqual(settled.filter((s) => s !== 'Completing'), [], 'finished before the final syncs');
    assert.equal((await base.repo.batchById(batch.id))!.status, 'Completing');
    assert.deepEqual((await base.repo.listUsers(batch.id)).map((u) => [u.email_address, u.status]).sort(),
      [['bad@example.com', 'Failed'], ['ok1@example.com', 'Completing'], ['ok2@example.com', 'Completing']]);
  } finally {
    await runnerSide.close();
    await base.close();
    rmSync(work, { recursive: true, force: true });
  }
});

/** A batch context on a fresh state database in a temporary directory, closed and removed after `body`. */
async function withBatchContext(prefix: string, body: (ctx: Awaited<ReturnType<typeof openBatchContext>>) => Promise<void>): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const ctx = await openBatchContext({ statePath: join(work, 'state.sqlite'), env: { MAILSHIFT_SECRET_KEY: 'd'.repeat(64) } });
  try {
    await body(ctx);
  } finally {
    await ctx.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** A batch row as `createBatch` takes it: endpoints 1 and 2, no schedule, daily incremental syncs. */
function batchSpec(name: string, status: string) {
  return {
    name, source_endpoint_id: 1, target_endpoint_id: 2, status, exclude_folders: '[]', since: null, max_message_size: 1, auto_start: 1,
    start_after: null, complete_after: null, notify: '[]', incremental_interval_ms: 86_400_000, warnings: '[]',
  };
}

test('a sync ending while `complete` runs: the user gets its final sync, whichever comes first', async () => {
  await withBatchContext('ms-batch-finish-', async (ctx) => {
    const now = 8_000_000;
    const user = (email: string) => ({
      row_number: 2, email_address: email, user_name: email, password_enc: 'x', user_root: null, target_user_name: null, target_password_enc: null, status: 'Queued',
    });
    const batch = await ctx.repo.createBatch(batchSpec('Race', 'Synced'), [user('early@example.com'), user('late@example.com')], now);
    await ctx.repo.updateUsersWhere(batch.id, ['Queued'], { status: 'IncrementalSyncing', lease_owner: 'h:1:runner', lease_until: now + 60_000 }, now);
    const [early, late] = await ctx.repo.listUsers(batch.id);
    const done = { status: 'IncrementalSynced' as const, lease_owner: null, lease_until: null, sync_requested: 0 };
    // One sync ends before `complete`: its user is a synced one, which `complete` moves on.
    assert.deepEqual(await ctx.repo.finishLeasedUser(early!.id, batch.id, 'h:1:runner', done, now, true), { updated: true, status: 'IncrementalSynced' });
    // `complete` runs while the other is still syncing (leased: left alone)...
    await ctx.repo.startCompleting(batch.id, now + 1);
    // ...and that sync ends after it, having read the batch as Synced when it began to finish.
    assert.deepEqual(await ctx.repo.finishLeasedUser(late!.id, batch.id, 'h:1:runner', done, now + 2, true), { updated: true, status: 'Completing' });
    assert.deepEqual((await ctx.repo.listUsers(batch.id)).map((u) => [u.email_address, u.status, u.sync_requested, u.lease_owner]),
      [['early@example.com', 'Completing', 1, null], ['late@example.com', 'Completing', 1, null]]);
    // A lease lost meanwhile (reclaimed) writes nothing.
    assert.equal((await ctx.repo.finishLeasedUser(late!.id, batch.id, 'h:1:runner', done, now + 3, true)).updated, false);
  });
});

test('the runner: `complete` landing just after a finishing sync read the batch still gives that user its final sync', async () => {
  await withBatchContext('ms-batch-runner-race-', async (base) => {
    const now = 9_000_000;
    const batch = await base.repo.createBatch(batchSpec('Race2', 'Synced'), [{ row_number: 2, email_address: 'u@example.com', user_name: 'u@example.com', password_enc: 'x', user_root: null, target_user_name: null, target_password_enc: null }], now);
    await base.repo.updateUsersWhere(batch.id, ['Queued'], { status: 'IncrementalSynced', sync_requested: 1 }, now);
    // `batch complete` lands right after the runner, finishing the user's sync, has read the batch.
    let completed = false;
    const repo = new Proxy(base.repo, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'batchById' || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        return async (id: number) => {
          const read = await (value as (id: number) => Promise<unknown>).call(target, id);
          if (!completed && /\bfinish\b/.test(new Error().stack ?? '')) {
            completed = true;
            await target.startCompleting(id, now + 1);
          }
          return read;
        };
      },
    });
    const finished = new Promise<UserStatus>((resolve) => {
      // The sync itself fails (there are no endpoints here): an incremental sync that failed is
      // followed by the final sync too when the batch is completing.
      // The source endpoint's limits let the user be claimed; the target endpoint does not exist.
      const byId = async (id: number): Promise<Endpoint | null> => (id === 1 ? { id: 1, name: 'src', maxConcurrentMigrations: 5, maxConcurrentIncrementalSyncs: 5 } as unknown as Endpoint : null);
      const endpoints = { ...base.endpoints, byId };
      const runner = new BatchRunner({ ...base, repo, endpoints, clock: { now: () => now, sleep: async () => undefined } }, { onlyBatchId: batch.id, onUserFinished: (_email, status) => resolve(status) });
      void runner.tick();
    });
    assert.equal(await finished, 'Completing');
    assert.ok(completed, 'complete ran between the read and the write');
    assert.deepEqual((await base.repo.listUsers(batch.id)).map((u) => [u.status, u.sync_requested]), [['Completing', 1]]);
  });
});

test('--start-after: a scheduled batch is not claimed before its time; --complete-after: a synced batch completes itself once due', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ms-batch-schedule-'));
  const base = await openBatchContext({ statePath: join(work, 'state.sqlite'), env: { MAILSHIFT_SECRET_KEY: 'd'.repeat(64) } });
  let now = 5_000_000;
  const ctx = { ...base, clock: { now: () => now, sleep: async () => undefined } };
  try {
    const user = (email: string, status: string) => ({
      row_number: 2, email_address: email, user_name: email, password_enc: 'x', user_root: null, target_user_name: null, target_password_enc: null, status,
    });
    const spec = (name: string, status: string, startAfter: number | null, completeAfter: number | null) => ({
      name, source_endpoint_id: 1, target_endpoint_id: 2, status, exclude_folders: '[]', since: null, max_message_size: 1, auto_start: 1,
      start_after: startAfter, complete_after: completeAfter, notify: '[]', incremental_interval_ms: 86_400_000, warnings: '[]',
    });
    const limits = () => ({ maxConcurrentMigrations: 10, maxConcurrentIncrementalSyncs: 10 });
    await ctx.repo.createBatch(spec('Later', 'Starting', now + 60_000, null), [user('a@example.com', 'Queued')], now);
    assert.equal((await ctx.repo.claim({ owner: 'h:1:x', now, leaseMs: 1000, max: 10, limitsFor: limits })).length, 0, 'not before --start-after');
    const due = await ctx.repo.claim({ owner: 'h:1:x', now: now + 60_000, leaseMs: 1000, max: 10, limitsFor: limits });
    assert.deepEqual(due.map((c) => c.user.email_address), ['a@example.com']);

    const synced = await ctx.repo.createBatch(spec('Cutover', 'Synced', null, now + 3_600_000), [user('b@example.com', 'Synced')], now);
    await ctx.repo.updateUsersWhere(synced.id, ['Queued'], { status: 'Synced', last_sync_at: now, next_sync_at: now + 86_400_000 }, now);
    // maxParallel 0: the runner applies schedules and settles statuses but starts no mailbox.
    const runner = new BatchRunner(ctx, { maxParallel: 0, onlyBatchId: synced.id });
    await runner.tick();
    assert.equal((await ctx.repo.batchById(synced.id))!.status, 'Synced', 'not before --complete-after');
    now += 3_600_000;
    await runner.tick();
    assert.equal((await ctx.repo.batchById(synced.id))!.status, 'Completing', 'completes itself once due');
    const users = await ctx.repo.listUsers(synced.id);
    assert.deepEqual(users.map((u) => [u.status, u.sync_requested]), [['Completing', 1]], 'a final sync is requested');
  } finally {
    await base.close();
    rmSync(work, { recursive: true, force: true });
  }
});

test('a user keeps the first warnings of its last sync and a count of the rest; none is stored as null', () => {
  assert.equal(warningsColumn([]), null);
  assert.deepEqual(userWarnings(null), []);
  const few = ['The target folder "INBOX" does not accept the keyword(s) $Label1; they were not copied.'];
  assert.deepEqual(userWarnings(warningsColumn(few)), few);
  const many = Array.from({ length: MAX_USER_WARNINGS + 7 }, (_, i) => `The target folder "F${i}" does not accept the keyword(s) X; they were not copied.`);
  const kept = userWarnings(warningsColumn(many));
  assert.equal(kept.length, MAX_USER_WARNINGS + 1);
  assert.deepEqual(kept.slice(0, MAX_USER_WARNINGS), many.slice(0, MAX_USER_WARNINGS));
  assert.equal(kept.at(-1), '…and 7 more warning(s) of the same sync.');
});
