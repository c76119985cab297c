/**
 * Batches and their users in the store, and the runner's claims on users (leases).
 *
 * Claims run in one write transaction (write-transaction.ts): on SQLite `BEGIN IMMEDIATE` (the write lock is taken before
 * the candidates are read, so two runners never claim the same user or exceed an endpoint's limit);
 * on PostgreSQL the same statements would run with `SELECT … FOR UPDATE SKIP LOCKED` on the
 * candidate rows (`dialect.skipLocked`) and an advisory lock per source endpoint around the count.
 * No transaction is ever held across an IMAP call.
 */
import { sql } from 'kysely';
import type { Kysely, Selectable, Updateable } from 'kysely';
import { MailshiftError } from '../domain/errors.js';
import type { BatchStatus, UserStatus } from '../batch/batch-status.js';
import type { BatchTable, BatchUserTable } from './batch-schema.js';
import { writeTransaction } from './write-transaction.js';
import type { Database } from './schema.js';

export type BatchRow = Selectable<BatchTable>;
export type BatchUserRow = Selectable<BatchUserTable>;
export type NewBatch = Omit<BatchTable, 'id' | 'created_at' | 'updated_at' | 'started_at' | 'finished_at' | 'notified_status' | 'completed_at'>;
export type NewBatchUser = Pick<BatchUserTable, 'row_number' | 'email_address' | 'user_name' | 'password_enc' | 'user_root' | 'target_user_name' | 'target_password_enc'>;

export interface StoreDialect {
  /** PostgreSQL: lock candidate rows with FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE suffices. */
  skipLocked: boolean;
}
export const SQLITE_DIALECT: StoreDialect = { skipLocked: false };

/** Users a runner may pick up, grouped by the concurrency they count against. */
export type ClaimKind = 'initial' | 'incremental' | 'final';

export interface EndpointLimits {
  maxConcurrentMigrations: number;
  maxConcurrentIncrementalSyncs: number;
}

export interface ClaimedUser {
  user: BatchUserRow;
  batch: BatchRow;
  kind: ClaimKind;
  /** The status the user had before the claim (to go back to it if the run is interrupted). */
  previousStatus: UserStatus;
}

const toNumber = (v: unknown): number => Number(v);

function normalizeUser(row: BatchUserRow): BatchUserRow {
  return {
    ...row,
    items_synced: toNumber(row.items_synced), items_skipped: toNumber(row.items_skipped), bytes_synced: toNumber(row.bytes_synced),
    last_sync_at: row.last_sync_at === null ? null : toNumber(row.last_sync_at),
    next_sync_at: row.next_sync_at === null ? null : toNumber(row.next_sync_at),
    lease_until: row.lease_until === null ? null : toNumber(row.lease_until),
    sync_started_at: row.sync_started_at === null ? null : toNumber(row.sync_started_at),
    items_total: row.items_total === null || row.items_total === undefined ? null : toNumber(row.items_total),
    items_per_second: row.items_per_second === null || row.items_per_second === undefined ? null : toNumber(row.items_per_second),
    warnings: row.warnings ?? null,
  };
}

function normalizeBatch(row: BatchRow): BatchRow {
  const n = (v: number | null): number | null => (v === null ? null : toNumber(v));
  return {
    ...row,
    max_message_size: toNumber(row.max_message_size), incremental_interval_ms: toNumber(row.incremental_interval_ms),
    since: n(row.since), start_after: n(row.start_after), complete_after: n(row.complete_after), created_at: toNumber(row.created_at),
    updated_at: toNumber(row.updated_at), started_at: n(row.started_at), finished_at: n(row.finished_at), completed_at: n(row.completed_at),
  };
}

export class BatchRepository {
  constructor(readonly db: Kysely<Database>, private readonly dialect: StoreDialect = SQLITE_DIALECT) {}

  async createBatch(batch: NewBatch, users: readonly NewBatchUser[], now: number): Promise<BatchRow> {
    return writeTransaction(this.db, async (trx) => {
      const existing = await trx.selectFrom('batches').select('id').where(sql`lower(name)`, '=', batch.name.toLowerCase()).executeTakeFirst();
      if (existing) throw new MailshiftError('BATCH_EXISTS', { batch: batch.name });
      const row = await trx.insertInto('batches').values({ ...batch, created_at: now, updated_at: now }).returningAll().executeTakeFirstOrThrow();
      await this.insertUsersIn(trx, row.id, users, now);
      return normalizeBatch(row);
    });
  }

  private async insertUsersIn(trx: Kysely<Database>, batchId: number, users: readonly NewBatchUser[], now: number): Promise<void> {
    for (let i = 0; i < users.length; i += 200) {
      const chunk = users.slice(i, i + 200).map((u) => ({
        ...u, batch_id: batchId, status: 'Queued', items_synced: 0, items_skipped: 0, bytes_synced: 0, sync_requested: 0, attempts: 0,
        last_sync_at: null, next_sync_at: null, error_code: null, error_message: null, error_remediation: null,
        lease_owner: null, lease_until: null, mailbox_id: null, sync_started_at: null, created_at: now, updated_at: now,
        items_total: null, items_per_second: null, warnings: null,
      }));
      if (chunk.length) await trx.insertInto('batch_users').values(chunk).execute();
    }
  }

  /** Adds users; an address already in the batch is refused (all or nothing). */
  async addUsers(batchId: number, users: readonly NewBatchUser[], now: number): Promise<void> {
    await writeTransaction(this.db, async (trx) => {
      const existing = await trx.selectFrom('batch_users').select(['email_address', 'row_number']).where('batch_id', '=', batchId).execute();
      const known = new Map(existing.map((e) => [e.email_address.toLowerCase(), e]));
      for (const u of users) {
        if (known.has(u.email_address.toLowerCase())) {
          throw new MailshiftError('BATCH_USER_EXISTS', { row: u.row_number, address: u.email_address });
        }
      }
      await this.insertUsersIn(trx, batchId, users, now);
    });
  }

  async findBatch(name: string): Promise<BatchRow | null> {
    const row = await this.db.selectFrom('batches').selectAll().where(sql`lower(name)`, '=', name.toLowerCase()).executeTakeFirst();
    return row ? normalizeBatch(row) : null;
  }

  async getBatch(name: string): Promise<BatchRow> {
    const row = await this.findBatch(name);
    if (!row) throw new MailshiftError('BATCH_NOT_FOUND', { batch: name });
    return row;
  }

  async batchById(id: number): Promise<BatchRow | null> {
    const row = await this.db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? normalizeBatch(row) : null;
  }

  async listBatches(): Promise<BatchRow[]> {
    return (await this.db.selectFrom('batches').selectAll().orderBy('created_at').orderBy('id').execute()).map(normalizeBatch);
  }

  async listUsers(batchId: number): Promise<BatchUserRow[]> {
    return (await this.db.selectFrom('batch_users').selectAll().where('batch_id', '=', batchId).orderBy('row_number').orderBy('id').execute()).map(normalizeUser);
  }

  async userById(id: number): Promise<BatchUserRow | null> {
    const row = await this.db.selectFrom('batch_users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? normalizeUser(row) : null;
  }

  async updateBatch(id: number, patch: Updateable<BatchTable>, now: number, onlyIfStatus?: BatchStatus): Promise<boolean> {
    let q = this.db.updateTable('batches').set({ ...patch, updated_at: now }).where('id', '=', id);
    if (onlyIfStatus) q = q.where('status', '=', onlyIfStatus);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * The batch and every synced user nobody holds to Completing, in one transaction. Written one
   * after the other, a runner settling the status in between (another process) would see a
   * Completing batch without a Completing user and finish it with no final sync.
   */
  async startCompleting(batchId: number, now: number): Promise<void> {
    await writeTransaction(this.db, async (trx) => {
      await trx.updateTable('batches').set({ status: 'Completing', updated_at: now }).where('id', '=', batchId).execute();
      await trx.updateTable('batch_users').set({ status: 'Completing', sync_requested: 1, updated_at: now })
        .where('batch_id', '=', batchId).where('status', 'in', ['Synced', 'IncrementalSynced', 'IncrementalFailed']).where('lease_owner', 'is', null).execute();
    });
  }

  /** Sets `patch` on the batch's users whose status is one of `from` (and, optionally, not leased). */
  async updateUsersWhere(batchId: number, from: readonly UserStatus[], patch: Updateable<BatchUserTable>, now: number, opts: { unleasedOnly?: boolean } = {}): Promise<number> {
    if (from.length === 0) return 0;
    let q = this.db.updateTable('batch_users').set({ ...patch, updated_at: now }).where('batch_id', '=', batchId).where('status', 'in', [...from]);
    if (opts.unleasedOnly) q = q.where('lease_owner', 'is', null);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Updates a user the caller holds the lease of; false when the lease was lost (reclaimed or removed). */
  async updateLeasedUser(userId: number, owner: string, patch: Updateable<BatchUserTable>, now: number): Promise<boolean> {
    return updateLeased(this.db, userId, owner, patch, now);
  }

  /**
   * Ends a leased user's sync with `patch`. With `toCompleting`, the user becomes Completing (its
   * final sync requested) instead if the batch is Completing when this is written: the batch's status
   * is read in the same write transaction as the user's, so a `batch complete` cannot fall between
   * them and leave a user that was syncing at that moment without its final sync.
   */
  async finishLeasedUser(userId: number, batchId: number, owner: string, patch: Updateable<BatchUserTable>, now: number, toCompleting: boolean): Promise<{ updated: boolean; status: UserStatus | undefined }> {
    return writeTransaction(this.db, async (trx) => {
      let values = patch;
      if (toCompleting) {
        const batch = await trx.selectFrom('batches').select('status').where('id', '=', batchId).executeTakeFirst();
        if (batch?.status === 'Completing') values = { ...patch, status: 'Completing', sync_requested: 1 };
      }
      return { updated: await updateLeased(trx, userId, owner, values, now), status: values.status as UserStatus | undefined };
    });
  }

  async statusCounts(batchId: number): Promise<{ statuses: UserStatus[]; withErrors: boolean; leased: number }> {
    const rows = await this.db.selectFrom('batch_users').select(['status', 'error_code', 'lease_owner']).where('batch_id', '=', batchId).execute();
    return {
      statuses: rows.map((r) => r.status as UserStatus),
      withErrors: rows.some((r) => r.error_code !== null && (r.status === 'Synced' || r.status === 'IncrementalSynced' || r.status === 'Completed')),
      leased: rows.filter((r) => r.lease_owner !== null).length,
    };
  }

  /** Leases whose owner is gone: `isDead(owner)` (a pid no longer alive on this host) or expired. Returns the freed users. */
  async reapLeases(now: number, isDead: (owner: string) => boolean): Promise<number> {
    const leased = await this.db.selectFrom('batch_users').select(['id', 'status', 'lease_owner', 'lease_until']).where('lease_owner', 'is not', null).execute();
    let freed = 0;
    for (const row of leased) {
      if (!(Number(row.lease_until) < now || isDead(row.lease_owner!))) continue;
      // Back to where a new claim picks it up: the ledger makes the copy itself resume exactly.
      const status = row.status === 'Syncing' ? 'Queued' : row.status === 'IncrementalSyncing' ? 'Synced' : row.status;
      const patch: Updateable<BatchUserTable> = { status, lease_owner: null, lease_until: null, updated_at: now };
      if (row.status !== 'Queued') patch.sync_requested = 1;
      const result = await this.db.updateTable('batch_users').set(patch)
        .where('id', '=', row.id).where('lease_owner', '=', row.lease_owner).executeTakeFirst();
      freed += Number(result.numUpdatedRows);
    }
    return freed;
  }

  async heartbeat(owner: string, userIds: readonly number[], leaseUntil: number): Promise<void> {
    if (userIds.length === 0) return;
    await this.db.updateTable('batch_users').set({ lease_until: leaseUntil }).where('lease_owner', '=', owner).where('id', 'in', [...userIds]).execute();
  }

  /** Ledger totals of a mailbox pair: what the user has on the target, and what was skipped. */
  async ledgerTotals(mailboxId: number): Promise<{ synced: number; skipped: number; bytes: number }> {
    const rows = await this.db.selectFrom('message_ledger')
      .select(['status', sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(size), 0)`.as('bytes')])
      .where('mailbox_id', '=', mailboxId).groupBy('status').execute();
    const get = (s: string): { n: number; bytes: number } => {
      const r = rows.find((x) => x.status === s);
      return { n: Number(r?.n ?? 0), bytes: Number(r?.bytes ?? 0) };
    };
    return { synced: get('copied').n, skipped: get('skipped').n, bytes: get('copied').bytes };
  }

  async skippedItems(mailboxId: number): Promise<Array<{ folder: string; date: number; subject: string | null; size: number; kind: string }>> {
    const rows = await this.db.selectFrom('message_ledger').select(['source_path', 'internal_date', 'subject', 'size', 'skip_reason'])
      .where('mailbox_id', '=', mailboxId).where('status', '=', 'skipped').orderBy('source_path').orderBy('source_uid').execute();
    return rows.map((r) => ({ folder: r.source_path, date: Number(r.internal_date), subject: r.subject, size: Number(r.size), kind: r.skip_reason ?? 'skipped' }));
  }

  /**
   * Claims up to `max` users that are due, never more per source endpoint than its limits allow
   * (counting every live lease, whoever holds it). `limitsFor` gives an endpoint's limits.
   */
  async claim(args: {
    owner: string; now: number; leaseMs: number; max: number; onlyBatchId?: number;
    limitsFor: (endpointId: number) => EndpointLimits | null;
  }): Promise<ClaimedUser[]> {
    if (args.max <= 0) return [];
    return writeTransaction(this.db, async (trx) => {
      const { now } = args;
      let q = trx.selectFrom('batch_users as u').innerJoin('batches as b', 'b.id', 'u.batch_id')
        .selectAll('u').select(['b.source_endpoint_id as ep', 'b.status as batch_status'])
        .where('b.status', 'in', ['Starting', 'Syncing', 'Synced', 'SyncedWithErrors', 'IncrementalSyncing', 'Completing'])
        .where((eb) => eb.or([eb('b.start_after', 'is', null), eb('b.start_after', '<=', now)]))
        .where('u.lease_owner', 'is', null)
        .where((eb) => eb.or([
          eb.and([eb('u.status', '=', 'Queued'), eb.or([eb('u.next_sync_at', 'is', null), eb('u.next_sync_at', '<=', now), eb('u.sync_requested', '=', 1)])]),
          eb.and([
            eb('u.status', 'in', ['Synced', 'IncrementalSynced', 'IncrementalFailed']), eb('b.status', '!=', 'Completing'),
            eb.or([eb('u.sync_requested', '=', 1), eb('u.next_sync_at', '<=', now)]),
          ]),
          eb('u.status', '=', 'Completing'),
        ]))
        .orderBy('u.sync_requested', 'desc').orderBy('u.id').limit(Math.max(args.max * 4, 50));
      if (args.onlyBatchId !== undefined) q = q.where('u.batch_id', '=', args.onlyBatchId);
      if (this.dialect.skipLocked) q = q.forUpdate().skipLocked();
      const candidates = await q.execute();
      if (candidates.length === 0) return [];

      const live = await trx.selectFrom('batch_users as u').innerJoin('batches as b', 'b.id', 'u.batch_id')
        .select(['b.source_endpoint_id as ep', 'u.status', sql<number>`count(*)`.as('n')])
        .where('u.lease_owner', 'is not', null).groupBy(['b.source_endpoint_id', 'u.status']).execute();
      const running = new Map<number, { all: number; incremental: number }>();
      const bump = (ep: number, status: string, n: number): void => {
        const r = running.get(ep) ?? { all: 0, incremental: 0 };
        r.all += n;
        if (status !== 'Syncing') r.incremental += n;
        running.set(ep, r);
      };
      for (const row of live) bump(Number(row.ep), row.status, Number(row.n));

      const claimed: ClaimedUser[] = [];
      for (const c of candidates) {
        if (claimed.length >= args.max) break;
        const ep = Number(c.ep);
        const limits = args.limitsFor(ep);
        if (!limits) continue;
        const r = running.get(ep) ?? { all: 0, incremental: 0 };
        const kind: ClaimKind = c.status === 'Queued' ? 'initial' : c.status === 'Completing' ? 'final' : 'incremental';
        if (r.all >= limits.maxConcurrentMigrations) continue;
        if (kind !== 'initial' && r.incremental >= limits.maxConcurrentIncrementalSyncs) continue;
        const status: UserStatus = kind === 'initial' ? 'Syncing' : kind === 'final' ? 'Completing' : 'IncrementalSyncing';
        const result = await trx.updateTable('batch_users')
          .set({ status, lease_owner: args.owner, lease_until: now + args.leaseMs, sync_started_at: now, sync_requested: 0, updated_at: now })
          .where('id', '=', c.id).where('lease_owner', 'is', null).executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) continue;
        bump(ep, status, 1);
        const batch = await trx.selectFrom('batches').selectAll().where('id', '=', c.batch_id).executeTakeFirstOrThrow();
        const { ep: _ep, batch_status: _bs, ...user } = c;
        claimed.push({ user: normalizeUser({ ...user, status, lease_owner: args.owner, lease_until: now + args.leaseMs }), batch: normalizeBatch(batch), kind, previousStatus: c.status as UserStatus });
      }
      return claimed;
    });
  }

  /** Deletes the batch, its users, and the ledger/state of mailbox pairs no other batch user refers to. Never touches a mailbox. */
  async deleteBatch(batchId: number): Promise<{ users: number; mailboxStates: number }> {
    return writeTransaction(this.db, async (trx) => {
      const users = await trx.selectFrom('batch_users').select(['mailbox_id']).where('batch_id', '=', batchId).execute();
      const ids = [...new Set(users.map((u) => u.mailbox_id).filter((id): id is number => id !== null))];
      let mailboxStates = 0;
      for (const id of ids) {
        const other = await trx.selectFrom('batch_users').select('id').where('mailbox_id', '=', id).where('batch_id', '!=', batchId).executeTakeFirst();
        if (other) continue;
        const locked = await trx.selectFrom('mailbox_locks').select('mailbox_id').where('mailbox_id', '=', id).executeTakeFirst();
        if (locked) continue;
        await trx.deleteFrom('message_ledger').where('mailbox_id', '=', id).execute();
        await trx.deleteFrom('folder_states').where('mailbox_id', '=', id).execute();
        await trx.deleteFrom('runs').where('mailbox_id', '=', id).execute();
        await trx.deleteFrom('mailboxes').where('id', '=', id).execute();
        mailboxStates++;
      }
      await trx.deleteFrom('batch_users').where('batch_id', '=', batchId).execute();
      await trx.deleteFrom('batches').where('id', '=', batchId).execute();
      return { users: users.length, mailboxStates };
    });
  }
}

/** Updates a user `owner` holds the lease of; false when the lease was lost (reclaimed or removed). */
async function updateLeased(db: Kysely<Database>, userId: number, owner: string, patch: Updateable<BatchUserTable>, now: number): Promise<boolean> {
  const result = await db.updateTable('batch_users').set({ ...patch, updated_at: now })
    .where('id', '=', userId).where('lease_owner', '=', owner).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
