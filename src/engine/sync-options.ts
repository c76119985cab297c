import type { FolderPlan, FolderPlanEntry } from './folder-mapping.js';
import type { FolderReport } from './migration-report.js';
import type { MailshiftError } from '../domain/errors.js';

export interface SyncOptions {
  /** Only messages with INTERNALDATE on or after this instant (the seeds' start date). */
  since: number | null;
  /** Larger messages are skipped and reported (35 MB by default, as Microsoft's IMAP migration). */
  maxMessageSize: number;
  /** At most this many items per mailbox (500,000 by default); the oldest beyond it are skipped. */
  maxItems: number;
  /** A fetch/append batch holds at most this many messages … */
  batchMessages: number;
  /** … and about this many bytes; a larger message travels alone. */
  batchBytes: number;
}

export const DEFAULT_SYNC_OPTIONS: SyncOptions = {
  since: null,
  maxMessageSize: 35 * 1024 * 1024,
  maxItems: 500_000,
  batchMessages: 200,
  batchBytes: 4 * 1024 * 1024,
};

/**
 * Message bytes a process holds in memory at once, across all folders and mailboxes it copies.
 * Enough for three folder workers to each hold a batch and prefetch the next one.
 */
export const DEFAULT_BYTE_BUDGET = 32 * 1024 * 1024;

/** Progress callbacks; all optional, all synchronous, never allowed to throw into the engine. */
export interface MigrationObserver {
  onPlan?(plan: FolderPlan): void;
  /** Messages in the source folders of the plan (STATUS), for a progress total known up front. */
  onSourceTotal?(messages: number): void;
  onFolderStart?(folder: FolderPlanEntry, counts: { sourceMessages: number; toCopy: number }): void;
  onProgress?(folder: FolderPlanEntry, delta: { messages: number; bytes: number }): void;
  onFolderDone?(folder: FolderPlanEntry, report: FolderReport): void;
  onRetry?(error: MailshiftError, attempt: number, delayMs: number): void;
  onWarning?(message: string): void;
}

/** Mailbox-wide item allowance (the 500,000-item limit), shared by the folders in order. */
export class ItemBudget {
  constructor(private remaining: number) {}
  /** Counts items already on the target. */
  consume(n: number): void {
    this.remaining = Math.max(0, this.remaining - n);
  }
  /** How many of `wanted` new items may be copied; those are consumed. */
  grant(wanted: number): number {
    const granted = Math.min(wanted, this.remaining);
    this.remaining -= granted;
    return granted;
  }
}
