/**
 * The batch report: what the batch engine hands to every renderer (CLI tables, `batch report
 * --format csv|json`, the notification mail). Plain data, times in epoch ms, no secrets: it never
 * holds a password, so nothing rendered from it can leak one.
 */
import { ERROR_CATALOG } from '../domain/errors.js';

export interface UserReportRow {
  emailAddress: string;
  /** User status name as admins know it, e.g. 'Synced', 'Failed'. */
  status: string;
  itemsSynced: number;
  itemsSkipped: number;
  bytesSynced: number;
  lastSyncAt: number | null;
  error: { code: string; message: string; remediation: string } | null;
  /** What the last sync warned about; an empty list for none. */
  warnings: string[];
}

export interface SkippedItemRow {
  emailAddress: string;
  folder: string;
  /** The message's INTERNALDATE (epoch ms). */
  date: number;
  subject: string | null;
  size: number;
  /** Why it was skipped: 'too-large' | 'item-limit' | 'target-rejected' (others are shown as they are). */
  kind: string;
}

export interface BatchReport {
  batch: {
    name: string;
    status: string;
    source: string;
    target: string;
    createdAt: number;
    startedAt: number | null;
    completedAt: number | null;
    totals: { users: number; synced: number; failed: number; itemsSynced: number; itemsSkipped: number; bytesSynced: number };
    warnings: string[];
  };
  users: UserReportRow[];
  skippedItems: SkippedItemRow[];
}

/** User statuses that mean "this user's migration failed". */
export const FAILED_USER_STATUSES: ReadonlySet<string> = new Set(['Failed', 'IncrementalFailed']);
/** Batch statuses that mean "finished, but not cleanly". */
export const ERROR_BATCH_STATUSES: ReadonlySet<string> = new Set(['Failed', 'SyncedWithErrors', 'CompletedWithErrors']);

export function userHasError(user: UserReportRow): boolean {
  return user.error !== null || FAILED_USER_STATUSES.has(user.status);
}

/** The users whose last sync warned about something, in report order. */
export function usersWithWarnings(report: BatchReport): UserReportRow[] {
  return report.users.filter((u) => u.warnings.length > 0);
}

/** True when the batch should be reported "with errors": a failed user, a user error, or an error status. */
export function batchHasErrors(report: BatchReport): boolean {
  return (
    ERROR_BATCH_STATUSES.has(report.batch.status) ||
    report.batch.totals.failed > 0 ||
    report.users.some(userHasError)
  );
}

/** How a skipped item is described, and what to do about it (the catalog's remediation for its case). */
export const SKIP_KINDS: Record<string, { label: string; remediation: string }> = {
  'too-large': { label: 'larger than the maximum message size', remediation: ERROR_CATALOG.MSG_TOO_LARGE.remediation },
  'item-limit': { label: 'over the per-mailbox item limit', remediation: ERROR_CATALOG.MSG_ITEM_LIMIT.remediation },
  'target-rejected': { label: 'refused by the target', remediation: ERROR_CATALOG.TARGET_APPEND_REJECTED.remediation },
};

export function skipKindLabel(kind: string): string {
  return SKIP_KINDS[kind]?.label ?? kind;
}

export function skipKindRemediation(kind: string): string {
  return SKIP_KINDS[kind]?.remediation ?? '';
}

/** Users per status, in first-seen order. */
export function countUsersByStatus(report: BatchReport): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const u of report.users) counts.set(u.status, (counts.get(u.status) ?? 0) + 1);
  return [...counts.entries()];
}

/** Percentage of users synced (0–100, one decimal), 0 for an empty batch. */
export function percentSynced(report: BatchReport): number {
  const { users, synced } = report.batch.totals;
  return users === 0 ? 0 : Math.round((synced / users) * 1000) / 10;
}
