import { useState } from 'react';
import { api } from '../api.ts';
import type { BatchActionResult, BatchCommand, BatchSummary } from '../types.ts';
import { ConfirmDialog } from './ConfirmDialog.tsx';

export type Action = 'start' | 'stop' | 'complete' | 'sync-now' | 'retry' | 'remove';

interface Confirm { title: string; text: (name: string) => string; button: string; danger?: boolean }
export const ACTIONS: Array<{ action: Action; label: string; confirm?: Confirm }> = [
  { action: 'start', label: 'Start' },
  { action: 'stop', label: 'Stop', confirm: { title: 'Stop the batch?', text: (n) => `Running mailboxes of "${n}" are interrupted. Start it again later: it resumes where it stopped and copies nothing twice.`, button: 'Stop batch' } },
  { action: 'complete', label: 'Complete', confirm: { title: 'Complete the batch?', text: (n) => `Every synced user of "${n}" gets one final sync, then the batch stops syncing for good. Do this after switching the MX record.`, button: 'Complete batch' } },
  { action: 'sync-now', label: 'Sync now' },
  { action: 'retry', label: 'Retry failed' },
  { action: 'remove', label: 'Remove', confirm: { title: 'Remove the batch?', text: (n) => `The batch "${n}", its users and their sync state are deleted. No mailbox is touched: mail already copied stays on the target.`, button: 'Remove batch', danger: true } },
];

/**
 * The batch commands as buttons, enabled by the batch's allowedCommands; destructive ones ask first.
 * Reports results through onDone (a message for the live region) and failures through onError.
 */
export function BatchActions(props: {
  batch: BatchSummary;
  actions?: Action[];
  compact?: boolean;
  onUpdated: (batch: BatchSummary | null, message: string) => void;
  onError: (err: unknown) => void;
}) {
  const { batch } = props;
  const [pending, setPending] = useState<Action | null>(null);
  const [busy, setBusy] = useState<Action | null>(null);
  const list = ACTIONS.filter((a) => (props.actions ?? ['start', 'stop', 'complete', 'sync-now', 'remove']).includes(a.action));

  async function run(action: Action) {
    setBusy(action);
    props.onError(null);
    try {
      if (action === 'remove') {
        const r = await api.del<{ removed: boolean; running?: number }>(`/api/batches/${encodeURIComponent(batch.name)}`);
        props.onUpdated(null, r.removed ? `Batch ${batch.name} was removed.` : `Batch ${batch.name} is being removed: ${r.running ?? 0} running mailboxes are interrupted first.`);
      } else {
        const r = await api.post<BatchActionResult>(`/api/batches/${encodeURIComponent(batch.name)}/${action}`);
        const label = ACTIONS.find((a) => a.action === action)!.label;
        props.onUpdated(r.batch, `${label}: batch ${batch.name} is now ${r.batch.status}${r.affected !== null ? ` (${r.affected} users)` : ''}.`);
      }
    } catch (err) {
      props.onError(err);
    } finally {
      setBusy(null);
    }
  }

  const pendingAction = list.find((a) => a.action === pending);
  return (
    <div className={props.compact ? 'row-actions' : 'toolbar'}>
      {list.map(({ action, label, confirm }) => (
        <button
          key={action}
          type="button"
          className={action === 'remove' ? 'danger' : undefined}
          disabled={!batch.allowedCommands.includes(action as BatchCommand) || busy !== null}
          aria-label={props.compact ? `${label} ${batch.name}` : undefined}
          onClick={() => (confirm ? setPending(action) : void run(action))}
        >
          {busy === action ? `${label}…` : label}
        </button>
      ))}
      <ConfirmDialog
        open={pending !== null}
        title={pendingAction?.confirm?.title ?? ''}
        confirmLabel={pendingAction?.confirm?.button ?? 'OK'}
        danger={pendingAction?.confirm?.danger ?? false}
        onCancel={() => setPending(null)}
        onConfirm={() => { const a = pending!; setPending(null); void run(a); }}
      >
        <p>{pendingAction?.confirm?.text(batch.name)}</p>
      </ConfirmDialog>
    </div>
  );
}
