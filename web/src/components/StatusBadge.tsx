/** A batch or user status, coloured by what it means (text always says it: colour is not the only cue). */
const OK = new Set(['Synced', 'IncrementalSynced', 'Completed', 'pass', 'ok']);
const WARN = new Set(['SyncedWithErrors', 'CompletedWithErrors', 'Stopped', 'Stopping', 'warn', 'Removing']);
const BAD = new Set(['Failed', 'IncrementalFailed', 'fail']);
const BUSY = new Set(['Syncing', 'Starting', 'IncrementalSyncing', 'Completing', 'Queued']);

export function statusTone(status: string): string {
  if (OK.has(status)) return 'ok';
  if (WARN.has(status)) return 'warn';
  if (BAD.has(status)) return 'bad';
  if (BUSY.has(status)) return status === 'Queued' ? '' : 'busy';
  return '';
}

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return <span className={`badge ${statusTone(status)}`}>{label ?? status}</span>;
}
