/**
 * The batch and user state machines (Exchange Online's IMAP migration status names), pure.
 *
 * Commands (start, stop, complete, …) are checked against the batch's status here; the runner's
 * moves of a single user are checked against USER_TRANSITIONS. The batch status between commands is
 * derived from its users (`deriveBatchStatus`), so it can never disagree with what the users show.
 */
import { MailshiftError } from '../domain/errors.js';

export const BATCH_STATUSES = [
  'Created', 'Starting', 'Syncing', 'Synced', 'SyncedWithErrors', 'IncrementalSyncing', 'Stopping', 'Stopped',
  'Completing', 'Completed', 'CompletedWithErrors', 'Failed', 'Removing',
] as const;
export type BatchStatus = typeof BATCH_STATUSES[number];

export const USER_STATUSES = [
  'Queued', 'Syncing', 'Synced', 'IncrementalSyncing', 'IncrementalSynced', 'Stopped', 'Failed', 'IncrementalFailed',
  'Completing', 'Completed',
] as const;
export type UserStatus = typeof USER_STATUSES[number];

export type BatchCommand = 'start' | 'stop' | 'complete' | 'remove' | 'retry' | 'add-users' | 'sync-now';

/** Which batch statuses accept which command (what `batch <command>` may do now). */
export const COMMANDS_ALLOWED: Record<BatchCommand, readonly BatchStatus[]> = {
  start: ['Created', 'Stopped', 'Failed'],
  stop: ['Starting', 'Syncing', 'Synced', 'SyncedWithErrors', 'IncrementalSyncing'],
  complete: ['Synced', 'SyncedWithErrors', 'IncrementalSyncing'],
  remove: BATCH_STATUSES,
  retry: ['Syncing', 'Synced', 'SyncedWithErrors', 'IncrementalSyncing', 'Failed'],
  'add-users': ['Created', 'Starting', 'Syncing', 'Synced', 'SyncedWithErrors', 'IncrementalSyncing', 'Stopped', 'Failed'],
  'sync-now': ['Synced', 'SyncedWithErrors', 'IncrementalSyncing'],
};

/** Batch statuses in which the runner works on the batch's users. */
export const ACTIVE_BATCH_STATUSES: readonly BatchStatus[] = ['Starting', 'Syncing', 'Synced', 'SyncedWithErrors', 'IncrementalSyncing', 'Completing'];
/** A batch in one of these has finished a phase: the notification mail goes out once per arrival. */
export const FINISHED_BATCH_STATUSES: readonly BatchStatus[] = ['Synced', 'SyncedWithErrors', 'Completed', 'CompletedWithErrors', 'Failed'];

/** Every legal move of one user, with the reason it happens. */
export const USER_TRANSITIONS: Record<UserStatus, readonly UserStatus[]> = {
  // claimed by the runner; stopped; (no other way out)
  Queued: ['Syncing', 'Stopped'],
  // done; failed for good; stopped; lease lost or service shut down / transient failure with backoff (back to the queue)
  Syncing: ['Synced', 'Failed', 'Stopped', 'Queued'],
  // incremental sync due or requested; complete; stopped
  Synced: ['IncrementalSyncing', 'Completing', 'Stopped'],
  IncrementalSyncing: ['IncrementalSynced', 'IncrementalFailed', 'Stopped', 'Synced'],
  IncrementalSynced: ['IncrementalSyncing', 'Completing', 'Stopped'],
  // start again (resumes from the ledger)
  Stopped: ['Queued'],
  // retry; complete leaves it failed (the batch completes with errors)
  Failed: ['Queued'],
  // retried at the next interval or on retry/sync-now; complete includes it in the final sync
  IncrementalFailed: ['IncrementalSyncing', 'Completing', 'Stopped'],
  // final sync done or failed
  Completing: ['Completed', 'Failed'],
  Completed: [],
};

export function isLegalUserTransition(from: UserStatus, to: UserStatus): boolean {
  return from === to || USER_TRANSITIONS[from].includes(to);
}

export function assertUserTransition(from: UserStatus, to: UserStatus, address: string): void {
  if (!isLegalUserTransition(from, to)) {
    throw new MailshiftError('BATCH_ILLEGAL_USER_TRANSITION', { address, from, to, allowed: USER_TRANSITIONS[from].join(', ') || 'none' });
  }
}

/** Throws BATCH_ILLEGAL_TRANSITION naming the current status and the statuses that allow it. */
export function assertCommandAllowed(batch: string, status: BatchStatus, command: BatchCommand): void {
  if (COMMANDS_ALLOWED[command].includes(status)) return;
  const now = (Object.keys(COMMANDS_ALLOWED) as BatchCommand[]).filter((c) => COMMANDS_ALLOWED[c].includes(status));
  throw new MailshiftError('BATCH_ILLEGAL_TRANSITION', {
    batch, status, command, allowedIn: COMMANDS_ALLOWED[command].join(', '), possible: now.join(', ') || 'none',
  });
}

export type UserCounts = Partial<Record<UserStatus, number>>;

export function countUsers(statuses: readonly UserStatus[]): UserCounts {
  const counts: UserCounts = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

/**
 * The batch status its users imply, for a batch the runner works on (or that is stopping).
 * `withErrors` is true when a user that synced nevertheless reported errors (a folder it could not
 * create, a verification mismatch): the batch then shows SyncedWithErrors, like Exchange's
 * "Synced with errors".
 */
export function deriveBatchStatus(current: BatchStatus, counts: UserCounts, withErrors = false): BatchStatus {
  const n = (s: UserStatus): number => counts[s] ?? 0;
  const total = USER_STATUSES.reduce((sum, s) => sum + n(s), 0);
  switch (current) {
    case 'Created': case 'Stopped': case 'Completed': case 'CompletedWithErrors': case 'Removing':
      return current;
    case 'Stopping':
      return n('Syncing') + n('IncrementalSyncing') + n('Completing') > 0 ? 'Stopping' : 'Stopped';
    case 'Completing': {
      if (n('Completing') > 0) return 'Completing';
      return n('Failed') + n('IncrementalFailed') + n('Queued') + n('Stopped') > 0 || withErrors ? 'CompletedWithErrors' : 'Completed';
    }
    default: {
      if (total === 0) return current === 'Starting' ? 'Starting' : 'Synced';
      if (n('Queued') + n('Syncing') > 0) return current === 'Starting' && n('Syncing') === 0 ? 'Starting' : 'Syncing';
      if (n('IncrementalSyncing') > 0) return 'IncrementalSyncing';
      const failed = n('Failed');
      if (failed === total) return 'Failed';
      const errors = failed + n('IncrementalFailed') > 0 || withErrors;
      return errors ? 'SyncedWithErrors' : 'Synced';
    }
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "24h", "90m", "2s", "1d", "500ms" → milliseconds; null when not a duration. */
export function parseDuration(value: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(value);
  if (!match) return null;
  return Math.round(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
}

export function formatInterval(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Backoff for a transient failure of a whole mailbox: 30 s doubling to 1 h. */
export function userBackoffMs(attempts: number, base = 30_000): number {
  return Math.min(3_600_000, base * 2 ** Math.max(0, attempts - 1));
}

/** A transient failure is retried with backoff this many times before the user is Failed. */
export const MAX_TRANSIENT_ATTEMPTS = 5;
