/**
 * What the API shows: plain JSON views of endpoints, batches and batch users, built from the
 * application layer's models. Secrets are never copied into a view (and the response schemas would
 * drop them anyway). Batch counts are computed by the database (GROUP BY), so a list of batches
 * with 50,000 users each stays cheap.
 */
import { sql } from 'kysely';
import { caCertificateCount } from '../app/endpoint-service.js';
import type { EndpointTestResult, EndpointView as ServiceEndpointView } from '../app/endpoint-service.js';
import type { BatchContext } from '../app/batch-context.js';
import { COMMANDS_ALLOWED, USER_STATUSES } from '../batch/batch-status.js';
import type { BatchCommand, BatchStatus, UserStatus } from '../batch/batch-status.js';
import { apiTestResult } from './api-wording.js';
import { skipKindLabel, skipKindRemediation } from '../report/batch-report-model.js';
import type { BatchRow, BatchUserRow } from '../store/batch-repository.js';
import { userWarnings } from '../store/batch-schema.js';

export interface EndpointJson {
  name: string; host: string; port: number; security: string; authentication: string;
  admin: { user: string; format: string; loginTemplate: string | null; passwordSet: boolean } | null;
  maxConcurrentMigrations: number; maxConcurrentIncrementalSyncs: number;
  tls: { minVersion: string | null; ciphers: string | null; servername: string | null; caCertificates: number };
  acceptUntrustedCertificates: boolean;
  compress: boolean;
  warnings: Array<{ code: string; message: string }>;
  lastTest: { at: number; ok: boolean; code: string } | null;
  batches: string[];
  createdAt: number; updatedAt: number;
}

/** Endpoint id → names of the batches that use it. */
export async function batchesByEndpoint(ctx: BatchContext): Promise<Map<number, string[]>> {
  const map = new Map<number, string[]>();
  for (const b of await ctx.repo.listBatches()) {
    for (const id of new Set([b.source_endpoint_id, b.target_endpoint_id])) map.set(id, [...(map.get(id) ?? []), b.name]);
  }
  return map;
}

export function toEndpointJson(view: ServiceEndpointView, usedBy: Map<number, string[]>): EndpointJson {
  const e = view.endpoint;
  return {
    name: e.name, host: e.host, port: e.port, security: e.security, authentication: e.authentication,
    admin: e.admin ? { user: e.admin.user, format: e.admin.format, loginTemplate: e.admin.loginTemplate, passwordSet: view.adminPasswordSet } : null,
    maxConcurrentMigrations: e.maxConcurrentMigrations, maxConcurrentIncrementalSyncs: e.maxConcurrentIncrementalSyncs,
    tls: { minVersion: e.tls.minVersion, ciphers: e.tls.ciphers, servername: e.tls.servername, caCertificates: caCertificateCount(e.tls.caPem) },
    acceptUntrustedCertificates: e.acceptUntrustedCertificates,
    compress: e.compress,
    warnings: view.warnings.map((w) => ({ code: w.code, message: w.message })),
    lastTest: view.lastTest,
    batches: usedBy.get(e.id) ?? [],
    createdAt: e.createdAt, updatedAt: e.updatedAt,
  };
}

/**
 * The test result as the API shows it: the service's result holds no password (the login name
 * only); hints written for the command line ("pass --user") are reworded for any API client.
 */
export function toTestResultJson(result: EndpointTestResult): EndpointTestResult {
  return apiTestResult(result);
}

// ------------------------------------------------------------------------------------- batches

export interface BatchCounts {
  total: number; synced: number; finalized: number; failed: number; syncing: number; queued: number; stopped: number;
  byStatus: Partial<Record<UserStatus, number>>;
}

export interface BatchSummaryJson {
  name: string; status: string; source: string; target: string;
  createdAt: number; startedAt: number | null; completedAt: number | null; lastSyncAt: number | null;
  counts: BatchCounts;
  percentSynced: number; itemsSynced: number; itemsSkipped: number; bytesSynced: number;
  warnings: string[];
  allowedCommands: BatchCommand[];
}

export interface BatchDetailJson extends BatchSummaryJson {
  settings: {
    excludeFolders: string[]; since: number | null; maxMessageSize: number; autoStart: boolean; startAfter: number | null;
    completeAfter: number | null; notify: string[]; incrementalIntervalMs: number;
  };
}

interface Aggregate {
  byStatus: Partial<Record<UserStatus, number>>;
  itemsSynced: number; itemsSkipped: number; bytesSynced: number; lastSyncAt: number | null;
}

const SYNCED: readonly UserStatus[] = ['Synced', 'IncrementalSyncing', 'IncrementalSynced', 'Completing', 'Completed'];

/** Per batch: users per status and totals, in one GROUP BY over batch_users. */
export async function aggregateUsers(ctx: BatchContext, batchId?: number): Promise<Map<number, Aggregate>> {
  let q = ctx.db.selectFrom('batch_users').select([
    'batch_id', 'status',
    sql<number>`count(*)`.as('n'),
    sql<number>`coalesce(sum(items_synced), 0)`.as('items_synced'),
    sql<number>`coalesce(sum(items_skipped), 0)`.as('items_skipped'),
    sql<number>`coalesce(sum(bytes_synced), 0)`.as('bytes_synced'),
    sql<number | null>`max(last_sync_at)`.as('last_sync_at'),
  ]).groupBy(['batch_id', 'status']);
  if (batchId !== undefined) q = q.where('batch_id', '=', batchId);
  const map = new Map<number, Aggregate>();
  for (const r of await q.execute()) {
    const a = map.get(r.batch_id) ?? { byStatus: {}, itemsSynced: 0, itemsSkipped: 0, bytesSynced: 0, lastSyncAt: null };
    a.byStatus[r.status as UserStatus] = Number(r.n);
    a.itemsSynced += Number(r.items_synced);
    a.itemsSkipped += Number(r.items_skipped);
    a.bytesSynced += Number(r.bytes_synced);
    if (r.last_sync_at !== null) a.lastSyncAt = Math.max(a.lastSyncAt ?? 0, Number(r.last_sync_at));
    map.set(r.batch_id, a);
  }
  return map;
}

export function countsOf(byStatus: Partial<Record<UserStatus, number>>): BatchCounts {
  const n = (...s: UserStatus[]): number => s.reduce((sum, x) => sum + (byStatus[x] ?? 0), 0);
  const ordered: Partial<Record<UserStatus, number>> = {};
  for (const s of USER_STATUSES) if (byStatus[s]) ordered[s] = byStatus[s];
  return {
    total: n(...USER_STATUSES),
    synced: n(...SYNCED),
    finalized: n('Completed'),
    failed: n('Failed', 'IncrementalFailed'),
    syncing: n('Syncing', 'IncrementalSyncing', 'Completing'),
    queued: n('Queued'),
    stopped: n('Stopped'),
    byStatus: ordered,
  };
}

export function allowedCommands(status: string): BatchCommand[] {
  return (Object.keys(COMMANDS_ALLOWED) as BatchCommand[]).filter((c) => COMMANDS_ALLOWED[c].includes(status as BatchStatus));
}

/** Endpoint id → name, cached for one request or one poll. */
export type EndpointNames = (id: number) => Promise<string>;

export function endpointNamer(ctx: BatchContext): EndpointNames {
  const cache = new Map<number, Promise<string>>();
  return (id) => {
    let name = cache.get(id);
    if (!name) {
      name = ctx.endpoints.byId(id).then((ep) => ep?.name ?? `#${id} (removed)`);
      cache.set(id, name);
    }
    return name;
  };
}

export async function toBatchSummary(batch: BatchRow, agg: Aggregate | undefined, names: EndpointNames): Promise<BatchSummaryJson> {
  const counts = countsOf(agg?.byStatus ?? {});
  return {
    name: batch.name, status: batch.status,
    source: await names(batch.source_endpoint_id), target: await names(batch.target_endpoint_id),
    createdAt: batch.created_at, startedAt: batch.started_at, completedAt: batch.completed_at, lastSyncAt: agg?.lastSyncAt ?? null,
    counts,
    percentSynced: counts.total === 0 ? 0 : Math.round((counts.synced / counts.total) * 1000) / 10,
    itemsSynced: agg?.itemsSynced ?? 0, itemsSkipped: agg?.itemsSkipped ?? 0, bytesSynced: agg?.bytesSynced ?? 0,
    warnings: JSON.parse(batch.warnings) as string[],
    allowedCommands: allowedCommands(batch.status),
  };
}

export async function toBatchDetail(batch: BatchRow, agg: Aggregate | undefined, names: EndpointNames): Promise<BatchDetailJson> {
  return {
    ...await toBatchSummary(batch, agg, names),
    settings: {
      excludeFolders: JSON.parse(batch.exclude_folders) as string[], since: batch.since, maxMessageSize: batch.max_message_size,
      autoStart: batch.auto_start === 1, startAfter: batch.start_after, completeAfter: batch.complete_after,
      notify: JSON.parse(batch.notify) as string[], incrementalIntervalMs: batch.incremental_interval_ms,
    },
  };
}

/** All batches' summaries (the list, the events' snapshot). */
export async function batchSummaries(ctx: BatchContext, only?: BatchRow): Promise<BatchSummaryJson[]> {
  const batches = only ? [only] : await ctx.repo.listBatches();
  const aggs = await aggregateUsers(ctx, only?.id);
  const names = endpointNamer(ctx);
  return Promise.all(batches.map((b) => toBatchSummary(b, aggs.get(b.id), names)));
}

export async function batchSummary(ctx: BatchContext, batch: BatchRow): Promise<BatchSummaryJson> {
  return (await batchSummaries(ctx, batch))[0]!;
}

// ------------------------------------------------------------------------------------- users

export interface BatchUserJson {
  row: number; emailAddress: string; userName: string; status: string;
  itemsSynced: number; itemsSkipped: number; bytesSynced: number;
  /** Messages in the source folders when the last sync started (STATUS); null until counted. */
  itemsTotal: number | null;
  /** Items Synced per second, as the runner measures it while the user syncs; null when not running. */
  itemsPerSecond: number | null;
  lastSyncAt: number | null; nextSyncAt: number | null; syncStartedAt: number | null;
  running: boolean; attempts: number;
  error: { code: string; message: string; remediation: string } | null;
  /** What the last sync warned about (keywords the target dropped, a folder renamed, a connection limit). */
  warnings: string[];
}

/** The columns a user view needs: never the password columns. */
export const USER_VIEW_COLUMNS = [
  'id', 'batch_id', 'row_number', 'email_address', 'user_name', 'status', 'items_synced', 'items_skipped', 'bytes_synced',
  'last_sync_at', 'next_sync_at', 'sync_started_at', 'lease_owner', 'attempts', 'error_code', 'error_message',
  'error_remediation', 'mailbox_id', 'updated_at', 'items_total', 'items_per_second', 'warnings',
] as const;
export type UserViewRow = Pick<BatchUserRow, (typeof USER_VIEW_COLUMNS)[number]>;

const numOrNull = (v: number | null): number | null => (v === null ? null : Number(v));

export function toBatchUser(u: UserViewRow): BatchUserJson {
  return {
    row: Number(u.row_number), emailAddress: u.email_address, userName: u.user_name, status: u.status,
    itemsSynced: Number(u.items_synced), itemsSkipped: Number(u.items_skipped), bytesSynced: Number(u.bytes_synced),
    itemsTotal: numOrNull(u.items_total),
    itemsPerSecond: u.lease_owner !== null && u.items_per_second !== null ? Number(u.items_per_second) : null,
    lastSyncAt: numOrNull(u.last_sync_at), nextSyncAt: numOrNull(u.next_sync_at), syncStartedAt: numOrNull(u.sync_started_at),
    running: u.lease_owner !== null, attempts: Number(u.attempts),
    error: u.error_code ? { code: u.error_code, message: u.error_message ?? '', remediation: u.error_remediation ?? '' } : null,
    warnings: userWarnings(u.warnings),
  };
}

export interface UsersPageQuery {
  status?: string; q?: string; warned?: boolean; offset: number; limit: number; sort: 'row' | 'email' | 'status' | 'lastSync' | 'itemsSynced';
}

/** One page of a batch's users, filtered and sorted by the database, with the total that matches. */
export async function usersPage(ctx: BatchContext, batchId: number, query: UsersPageQuery): Promise<{ total: number; users: BatchUserJson[] }> {
  const statuses = (query.status ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const needle = (query.q ?? '').trim().toLowerCase();
  const like = `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  let base = ctx.db.selectFrom('batch_users').where('batch_id', '=', batchId);
  if (statuses.length) base = base.where('status', 'in', statuses);
  // The column is null for a sync without warnings (warningsColumn).
  if (query.warned) base = base.where('warnings', 'is not', null);
  if (needle) {
    base = base.where((eb) => eb.or([
      eb(sql`lower(email_address)`, 'like', sql`${like} escape '\\'`),
      eb(sql`lower(user_name)`, 'like', sql`${like} escape '\\'`),
    ]));
  }
  const totalRow = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirst();
  let q = base.select([...USER_VIEW_COLUMNS]);
  switch (query.sort) {
    case 'email': q = q.orderBy('email_address'); break;
    case 'status': q = q.orderBy('status').orderBy('row_number'); break;
    case 'lastSync': q = q.orderBy(sql`last_sync_at is null`).orderBy('last_sync_at', 'desc'); break;
    case 'itemsSynced': q = q.orderBy('items_synced', 'desc'); break;
    default: break; // the order the users were added in: CSV order, then later add-users CSVs
  }
  const rows = await q.orderBy('id').limit(query.limit).offset(query.offset).execute();
  return { total: Number(totalRow?.n ?? 0), users: rows.map(toBatchUser) };
}

export async function findUser(ctx: BatchContext, batchId: number, address: string): Promise<UserViewRow | null> {
  const row = await ctx.db.selectFrom('batch_users').select([...USER_VIEW_COLUMNS])
    .where('batch_id', '=', batchId).where(sql`lower(email_address)`, '=', address.trim().toLowerCase()).executeTakeFirst();
  return row ?? null;
}

export async function skippedItemsOf(ctx: BatchContext, user: UserViewRow): Promise<Array<{ folder: string; date: number; subject: string | null; size: number; kind: string; reason: string; remediation: string }>> {
  if (user.mailbox_id === null) return [];
  return (await ctx.repo.skippedItems(user.mailbox_id)).map((i) => ({ ...i, reason: skipKindLabel(i.kind), remediation: skipKindRemediation(i.kind) }));
}
