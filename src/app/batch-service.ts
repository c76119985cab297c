/**
 * Batch use cases: create, start, stop, complete, remove, retry, add-users, sync-now, and the
 * reports. They only write the store; the runner (src/jobs/batch-runner.ts, in `mailshift serve` or
 * `mailshift batch run`) polls it and does the copying. So every command works while a service runs.
 */
import { MailshiftError } from '../domain/errors.js';
import type { Endpoint } from '../endpoint/endpoint-model.js';
import { parseUsersCsv } from '../batch/users-csv.js';
import type { UserRow } from '../batch/users-csv.js';
import { ACTIVE_BATCH_STATUSES, assertCommandAllowed, deriveBatchStatus, countUsers } from '../batch/batch-status.js';
import type { BatchStatus, UserStatus } from '../batch/batch-status.js';
import type { BatchReport, UserReportRow, SkippedItemRow } from '../report/batch-report-model.js';
import type { BatchRow, BatchUserRow, NewBatchUser } from '../store/batch-repository.js';
import { userWarnings } from '../store/batch-schema.js';
import { openMailStore } from '../imap/imapflow-mail-store.js';
import type { BatchContext } from './batch-context.js';
import { SECRET_PURPOSE } from './batch-context.js';
import { userConnections } from './batch-connections.js';

export const DEFAULT_INCREMENTAL_INTERVAL_MS = 24 * 3_600_000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface CreateBatchInput {
  name: string;
  csv: Buffer | string;
  source: string;
  target: string;
  exclude: string[];
  since: number | null;
  maxMessageSize: number;
  autoStart: boolean;
  startAfter: number | null;
  completeAfter: number | null;
  notify: string[];
  incrementalIntervalMs: number;
  /** Look at the source (first user) for Gmail; default true. */
  probeSource?: boolean;
}

export type CsvOutcome<T> = { ok: true; value: T } | { ok: false; errors: MailshiftError[] };

export function validateBatchName(name: string): void {
  if (!NAME.test(name)) {
    const detail = name.length === 0 ? 'it is empty' : name.length > 64 ? 'it is longer than 64 characters' : 'it contains spaces or special characters';
    throw new MailshiftError('BATCH_INVALID_NAME', { batch: name, detail });
  }
}

/** CSV → rows to store, every problem at once; passwords encrypted, never kept in plaintext. */
function usersFromCsv(ctx: BatchContext, csv: Buffer | string, target: Endpoint): CsvOutcome<{ rows: NewBatchUser[]; users: UserRow[] }> {
  const parsed = parseUsersCsv(csv);
  if (!parsed.ok) return { ok: false, errors: parsed.errors };
  const errors: MailshiftError[] = [];
  for (const u of parsed.users) {
    if (!(u.targetUserName && u.targetPassword) && target.admin === null) {
      errors.push(new MailshiftError('BATCH_NO_TARGET_CREDENTIALS', { row: u.row, address: u.emailAddress, endpoint: target.name }));
    }
  }
  if (errors.length) return { ok: false, errors };
  const rows = parsed.users.map((u) => ({
    row_number: u.row,
    email_address: u.emailAddress,
    user_name: u.userName,
    password_enc: ctx.secrets.encrypt(u.password, SECRET_PURPOSE.sourcePassword),
    user_root: u.userRoot ?? null,
    target_user_name: u.targetUserName ?? null,
    target_password_enc: u.targetUserName && u.targetPassword ? ctx.secrets.encrypt(u.targetPassword, SECRET_PURPOSE.targetPassword) : null,
  }));
  return { ok: true, value: { rows, users: parsed.users } };
}

function excludesGmail(exclude: readonly string[]): boolean {
  return exclude.some((e) => ['[gmail]', '[gmail]/*', '[google mail]', '[google mail]/*'].includes(e.trim().toLowerCase()));
}

/**
 * A quick look at the source with the first user's login: Gmail advertises X-GM-EXT-1 and keeps its
 * virtual folders under "[Gmail]" (or "[Google Mail]"). Never blocks creation: a source that cannot
 * be reached now is reported when the batch runs.
 */
async function looksLikeGmail(ctx: BatchContext, batch: BatchRow, user: BatchUserRow): Promise<boolean | null> {
  try {
    const { source } = await userConnections(ctx, batch, user);
    const open = ctx.openStore ?? ((settings, side) => openMailStore(settings, { side }));
    const store = await open({ ...source, connectTimeoutMs: Math.min(source.connectTimeoutMs ?? 15_000, 15_000) }, 'source');
    try {
      if (store.capabilities.has('X-GM-EXT-1')) return true;
      const folders = await store.listFolders();
      return folders.some((f) => /^\[(gmail|google mail)\]/i.test(f.path));
    } finally {
      await store.close().catch(() => undefined);
    }
  } catch {
    return null;
  }
}

export async function createBatch(ctx: BatchContext, input: CreateBatchInput): Promise<CsvOutcome<{ batch: BatchRow; users: number; warnings: string[] }>> {
  validateBatchName(input.name);
  if (await ctx.repo.findBatch(input.name)) throw new MailshiftError('BATCH_EXISTS', { batch: input.name });
  const source = await ctx.endpoints.byName(input.source);
  const target = await ctx.endpoints.byName(input.target);
  const csv = usersFromCsv(ctx, input.csv, target);
  if (!csv.ok) return csv;
  const now = ctx.clock.now();
  const scheduled = input.autoStart || input.startAfter !== null;
  const warnings: string[] = [];
  if (source.acceptUntrustedCertificates) warnings.push(`The source endpoint "${source.name}" accepts untrusted certificates.`);
  if (target.acceptUntrustedCertificates) warnings.push(`The target endpoint "${target.name}" accepts untrusted certificates.`);
  if (source.security === 'none') warnings.push(`The source endpoint "${source.name}" is not encrypted (security none).`);
  if (target.security === 'none') warnings.push(`The target endpoint "${target.name}" is not encrypted (security none).`);
  const batch = await ctx.repo.createBatch({
    name: input.name,
    source_endpoint_id: source.id,
    target_endpoint_id: target.id,
    status: scheduled ? 'Starting' : 'Created',
    exclude_folders: JSON.stringify(input.exclude),
    since: input.since,
    max_message_size: input.maxMessageSize,
    auto_start: input.autoStart ? 1 : 0,
    start_after: input.startAfter,
    complete_after: input.completeAfter,
    notify: JSON.stringify(input.notify),
    incremental_interval_ms: input.incrementalIntervalMs,
    warnings: JSON.stringify(warnings),
  }, csv.value.rows, now);
  if (scheduled) await ctx.repo.updateBatch(batch.id, { started_at: now }, now);
  if (input.probeSource !== false && !excludesGmail(input.exclude)) {
    const first = (await ctx.repo.listUsers(batch.id))[0];
    if (first && await looksLikeGmail(ctx, batch, first)) {
      warnings.push(new MailshiftError('BATCH_GMAIL_LABELS').message);
      await ctx.repo.updateBatch(batch.id, { warnings: JSON.stringify(warnings) }, ctx.clock.now());
    }
  }
  return { ok: true, value: { batch: (await ctx.repo.batchById(batch.id))!, users: csv.value.rows.length, warnings } };
}

export async function startBatch(ctx: BatchContext, name: string): Promise<BatchRow> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'start');
  const now = ctx.clock.now();
  await ctx.repo.updateUsersWhere(batch.id, ['Stopped', 'Failed'], {
    status: 'Queued', attempts: 0, next_sync_at: null, error_code: null, error_message: null, error_remediation: null,
  }, now);
  await ctx.repo.updateBatch(batch.id, { status: 'Starting', started_at: batch.started_at ?? now, finished_at: null }, now);
  return (await ctx.repo.batchById(batch.id))!;
}

export async function stopBatch(ctx: BatchContext, name: string): Promise<BatchRow> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'stop');
  const now = ctx.clock.now();
  // Users nobody is working on stop at once; running ones are aborted by the runner that holds them.
  await ctx.repo.updateBatch(batch.id, { status: 'Stopping' }, now);
  await ctx.repo.updateUsersWhere(batch.id, ['Queued', 'Synced', 'IncrementalSynced', 'IncrementalFailed'], { status: 'Stopped', sync_requested: 0 }, now, { unleasedOnly: true });
  await settleStatus(ctx, batch.id);
  return (await ctx.repo.batchById(batch.id))!;
}

export async function completeBatch(ctx: BatchContext, name: string): Promise<BatchRow> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'complete');
  const now = ctx.clock.now();
  // A final sync for everyone who synced; users in the middle of an incremental sync are moved to
  // Completing by the runner when that sync ends.
  await ctx.repo.startCompleting(batch.id, now);
  return (await ctx.repo.batchById(batch.id))!;
}

export async function syncNow(ctx: BatchContext, name: string): Promise<number> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'sync-now');
  return ctx.repo.updateUsersWhere(batch.id, ['Synced', 'IncrementalSynced', 'IncrementalFailed'], { sync_requested: 1 }, ctx.clock.now());
}

export async function retryBatch(ctx: BatchContext, name: string): Promise<number> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'retry');
  const now = ctx.clock.now();
  const clear = { attempts: 0, next_sync_at: null, error_code: null, error_message: null, error_remediation: null };
  const failed = await ctx.repo.updateUsersWhere(batch.id, ['Failed'], { ...clear, status: 'Queued' }, now);
  const incremental = await ctx.repo.updateUsersWhere(batch.id, ['IncrementalFailed'], { ...clear, sync_requested: 1 }, now);
  if (failed > 0 && batch.status !== 'Syncing') await ctx.repo.updateBatch(batch.id, { status: 'Syncing', finished_at: null }, now);
  return failed + incremental;
}

export async function addUsers(ctx: BatchContext, name: string, csvInput: Buffer | string): Promise<CsvOutcome<{ added: number }>> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'add-users');
  const target = await ctx.endpoints.byId(batch.target_endpoint_id);
  if (!target) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name: `#${batch.target_endpoint_id}` });
  const csv = usersFromCsv(ctx, csvInput, target);
  if (!csv.ok) return csv;
  const now = ctx.clock.now();
  await ctx.repo.addUsers(batch.id, csv.value.rows, now);
  if (['Synced', 'SyncedWithErrors', 'IncrementalSyncing'].includes(batch.status)) {
    await ctx.repo.updateBatch(batch.id, { status: 'Syncing', finished_at: null }, now);
  }
  return { ok: true, value: { added: csv.value.rows.length } };
}

/**
 * Removing: the batch's rows, and the ledger/state of its mailbox pairs, are deleted; no mailbox is
 * touched. When a runner still holds some of its users, the batch shows Removing and that runner
 * aborts them and finishes the removal.
 */
export async function removeBatch(ctx: BatchContext, name: string, isDeadOwner: (owner: string) => boolean): Promise<{ removed: boolean; running: number }> {
  const batch = await ctx.repo.getBatch(name);
  assertCommandAllowed(batch.name, batch.status as BatchStatus, 'remove');
  const now = ctx.clock.now();
  await ctx.repo.updateBatch(batch.id, { status: 'Removing' }, now);
  await ctx.repo.reapLeases(now, isDeadOwner);
  const { leased } = await ctx.repo.statusCounts(batch.id);
  if (leased > 0) return { removed: false, running: leased };
  await ctx.repo.deleteBatch(batch.id);
  return { removed: true, running: 0 };
}

/** Writes the status the users imply; returns [before, after]. */
export async function settleStatus(ctx: BatchContext, batchId: number): Promise<[BatchStatus, BatchStatus]> {
  const batch = await ctx.repo.batchById(batchId);
  if (!batch) return ['Removing', 'Removing'];
  const before = batch.status as BatchStatus;
  const { statuses, withErrors } = await ctx.repo.statusCounts(batchId);
  const after = deriveBatchStatus(before, countUsers(statuses), withErrors);
  if (after !== before) {
    const now = ctx.clock.now();
    const changed = await ctx.repo.updateBatch(batchId, {
      status: after,
      ...(after === 'Completed' || after === 'CompletedWithErrors' ? { completed_at: now } : {}),
    }, now, before);
    if (!changed) return [before, before];
  }
  return [before, after];
}

export function isActive(status: string): boolean {
  return (ACTIVE_BATCH_STATUSES as readonly string[]).includes(status);
}

// ------------------------------------------------------------------------------------ reports

function endpointLabel(ep: Endpoint | null, id: number): string {
  return ep ? `${ep.name} (${ep.host}:${ep.port})` : `endpoint #${id} (removed)`;
}

const SYNCED_USER_STATUSES: ReadonlySet<UserStatus> = new Set(['Synced', 'IncrementalSyncing', 'IncrementalSynced', 'Completing', 'Completed']);

export async function buildBatchReport(ctx: BatchContext, batch: BatchRow, options: { skippedItems?: boolean } = {}): Promise<BatchReport> {
  const users = await ctx.repo.listUsers(batch.id);
  const [source, target] = await Promise.all([ctx.endpoints.byId(batch.source_endpoint_id), ctx.endpoints.byId(batch.target_endpoint_id)]);
  const rows: UserReportRow[] = users.map((u) => ({
    emailAddress: u.email_address,
    status: u.status,
    itemsSynced: u.items_synced,
    itemsSkipped: u.items_skipped,
    bytesSynced: u.bytes_synced,
    lastSyncAt: u.last_sync_at,
    error: u.error_code ? { code: u.error_code, message: u.error_message ?? '', remediation: u.error_remediation ?? '' } : null,
    warnings: userWarnings(u.warnings),
  }));
  const skipped: SkippedItemRow[] = [];
  if (options.skippedItems !== false) {
    for (const u of users) {
      if (u.mailbox_id === null || u.items_skipped === 0) continue;
      for (const item of await ctx.repo.skippedItems(u.mailbox_id)) skipped.push({ emailAddress: u.email_address, ...item });
    }
  }
  return {
    batch: {
      name: batch.name,
      status: batch.status,
      source: endpointLabel(source, batch.source_endpoint_id),
      target: endpointLabel(target, batch.target_endpoint_id),
      createdAt: batch.created_at,
      startedAt: batch.started_at,
      completedAt: batch.completed_at,
      totals: {
        users: users.length,
        synced: users.filter((u) => SYNCED_USER_STATUSES.has(u.status as UserStatus)).length,
        failed: users.filter((u) => u.status === 'Failed' || u.status === 'IncrementalFailed').length,
        itemsSynced: users.reduce((n, u) => n + u.items_synced, 0),
        itemsSkipped: users.reduce((n, u) => n + u.items_skipped, 0),
        bytesSynced: users.reduce((n, u) => n + u.bytes_synced, 0),
      },
      warnings: JSON.parse(batch.warnings) as string[],
    },
    users: rows,
    skippedItems: skipped,
  };
}
