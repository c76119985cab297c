/**
 * Tables of migration batches and their users (schema migration #3; columns added later: #4, #6). Portable: integers for
 * booleans, epoch-ms integers for times, JSON as text. The mailbox ledger and folder state stay in
 * the existing tables, keyed by the connection pair (batch_users.mailbox_id points at it).
 */
import type { Generated, Kysely } from 'kysely';

export interface BatchTable {
  id: Generated<number>;
  name: string;
  source_endpoint_id: number;
  target_endpoint_id: number;
  status: string;
  /** JSON array of folder names, globs and #Tokens#. */
  exclude_folders: string;
  since: number | null;
  max_message_size: number;
  auto_start: number;
  start_after: number | null;
  complete_after: number | null;
  /** JSON array of addresses. */
  notify: string;
  incremental_interval_ms: number;
  /** JSON array of strings shown in every report. */
  warnings: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  /** When the batch last reached Synced/SyncedWithErrors/Completed/…, and which of them was mailed. */
  finished_at: number | null;
  notified_status: string | null;
  completed_at: number | null;
}

export interface BatchUserTable {
  id: Generated<number>;
  batch_id: number;
  /** Spreadsheet row of the CSV it came from (header = 1). */
  row_number: number;
  email_address: string;
  user_name: string;
  /** Secret box ciphertext; never plaintext. */
  password_enc: string;
  user_root: string | null;
  target_user_name: string | null;
  target_password_enc: string | null;
  status: string;
  items_synced: number;
  items_skipped: number;
  bytes_synced: number;
  last_sync_at: number | null;
  /** When the runner may pick it up next (backoff, next incremental sync); null = now. */
  next_sync_at: number | null;
  /** 1 = sync as soon as a slot is free (sync-now, retry, complete). */
  sync_requested: number;
  error_code: string | null;
  error_message: string | null;
  error_remediation: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  attempts: number;
  /** The mailboxes row (ledger, folder state) of its connection pair, once known. */
  mailbox_id: number | null;
  sync_started_at: number | null;
  created_at: number;
  updated_at: number;
  /** Migration #4: messages in the source folders when the last sync started (STATUS); null until counted. */
  items_total: number | null;
  /** Migration #4: Items Synced per second the runner measured while it syncs; null otherwise. */
  items_per_second: number | null;
  /** Migration #6: JSON array of the last sync's warnings (keywords dropped, folders renamed, a connection limit); null for none. */
  warnings: string | null;
}

/** Warnings kept per user: a mailbox with keywords dropped in hundreds of folders is warned once per folder. */
export const MAX_USER_WARNINGS = 20;

/** A sync's warnings as batch_users.warnings stores them: the first MAX_USER_WARNINGS and a count of the rest. */
export function warningsColumn(warnings: readonly string[]): string | null {
  if (warnings.length === 0) return null;
  const kept = warnings.slice(0, MAX_USER_WARNINGS);
  const more = warnings.length - kept.length;
  if (more > 0) kept.push(`…and ${more} more warning(s) of the same sync.`);
  return JSON.stringify(kept);
}

/** batch_users.warnings as a list (the column holds a JSON array, or null for none). */
export function userWarnings(column: string | null): string[] {
  if (column === null) return [];
  const parsed: unknown = JSON.parse(column);
  return Array.isArray(parsed) ? parsed.filter((w): w is string => typeof w === 'string') : [];
}

export async function createBatchTables(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('batches').ifNotExists()
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('source_endpoint_id', 'integer', (c) => c.notNull())
    .addColumn('target_endpoint_id', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('exclude_folders', 'text', (c) => c.notNull())
    .addColumn('since', 'bigint')
    .addColumn('max_message_size', 'bigint', (c) => c.notNull())
    .addColumn('auto_start', 'integer', (c) => c.notNull())
    .addColumn('start_after', 'bigint')
    .addColumn('complete_after', 'bigint')
    .addColumn('notify', 'text', (c) => c.notNull())
    .addColumn('incremental_interval_ms', 'bigint', (c) => c.notNull())
    .addColumn('warnings', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .addColumn('notified_status', 'text')
    .addColumn('completed_at', 'bigint')
    .execute();
  await db.schema.createTable('batch_users').ifNotExists()
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('batch_id', 'integer', (c) => c.notNull())
    .addColumn('row_number', 'integer', (c) => c.notNull())
    .addColumn('email_address', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('password_enc', 'text', (c) => c.notNull())
    .addColumn('user_root', 'text')
    .addColumn('target_user_name', 'text')
    .addColumn('target_password_enc', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('items_synced', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('items_skipped', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_synced', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_sync_at', 'bigint')
    .addColumn('next_sync_at', 'bigint')
    .addColumn('sync_requested', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('error_remediation', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('mailbox_id', 'integer')
    .addColumn('sync_started_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('batch_users_batch_address').ifNotExists().unique().on('batch_users')
    .columns(['batch_id', 'email_address']).execute();
  await db.schema.createIndex('batch_users_status').ifNotExists().on('batch_users').columns(['status', 'next_sync_at']).execute();
}
