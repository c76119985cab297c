import { useCallback, useEffect, useState } from 'react';
import { api } from '../api.ts';
import { BatchActions } from '../components/BatchActions.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { formatAgo, formatCount, formatPercent } from '../format.ts';
import { LiveIndicator, useLiveEvents } from '../live.tsx';
import { href } from '../router.ts';
import type { BatchSummary } from '../types.ts';

/** The migration batch list (Recipients > Migration): status and counts, actions, live updates. */
export function BatchesPage() {
  const [batches, setBatches] = useState<BatchSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [announce, setAnnounce] = useState('');
  const [now, setNow] = useState(Date.now());

  const load = useCallback(async () => {
    try {
      const r = await api.get<{ batches: BatchSummary[] }>('/api/batches');
      setBatches(r.batches);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => { void load(); }, [load]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);

  const connected = useLiveEvents(null, (e) => {
    const d = e.data as { batches?: BatchSummary[]; batch?: BatchSummary; previousStatus?: string | null; name?: string };
    if (e.event === 'snapshot' && d.batches) setBatches(d.batches);
    else if (e.event === 'batch' && d.batch) {
      const b = d.batch;
      setBatches((list) => {
        const l = list ?? [];
        const i = l.findIndex((x) => x.name === b.name);
        return i < 0 ? [...l, b] : l.map((x, j) => (j === i ? b : x));
      });
      if (d.previousStatus && d.previousStatus !== b.status) setAnnounce(`Batch ${b.name} is now ${b.status}.`);
    } else if (e.event === 'batch-removed' && d.name) {
      setBatches((list) => (list ?? []).filter((x) => x.name !== d.name));
      setAnnounce(`Batch ${d.name} was removed.`);
    }
  }, ['snapshot', 'batch', 'batch-removed']);

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Migration batches</h1>
          <div className="sub">Each batch copies the mailboxes of a CSV from a source endpoint to a target endpoint, then keeps them in sync until you complete it.</div>
        </div>
        <div className="row">
          <LiveIndicator connected={connected} />
          <a className="button primary" href={href('new-batch')}>+ New migration batch</a>
        </div>
      </div>
      <div aria-live="polite" role="status" className="visually-hidden">{announce}</div>
      <ErrorBox error={error} />
      {batches === null && !error && <p className="muted">Loading…</p>}
      {batches !== null && (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Migration batches</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Total</th>
                <th scope="col" className="num">Synced</th>
                <th scope="col" className="num">Finalized</th>
                <th scope="col" className="num">Failed</th>
                <th scope="col">% synced</th>
                <th scope="col">Last sync</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {batches.length === 0 && (
                <tr><td colSpan={9} className="empty">No migration batches yet. <a href={href('new-batch')}>Create the first one.</a></td></tr>
              )}
              {batches.map((b) => (
                <tr key={b.name} data-batch={b.name}>
                  <th scope="row" className="rowhead">
                    <a href={href('batch', b.name)}><b>{b.name}</b></a>
                    <div className="small muted">{b.source} → {b.target}</div>
                    {b.warnings.length > 0 && <div className="small" style={{ color: 'var(--warn)' }} title={b.warnings.join('\n')}>⚠ {b.warnings.length} warning{b.warnings.length > 1 ? 's' : ''}</div>}
                  </th>
                  <td><StatusBadge status={b.status} /></td>
                  <td className="num">{formatCount(b.counts.total)}</td>
                  <td className="num">{formatCount(b.counts.synced)}</td>
                  <td className="num">{formatCount(b.counts.finalized)}</td>
                  <td className="num">{b.counts.failed > 0 ? <span style={{ color: 'var(--bad)', fontWeight: 600 }}>{formatCount(b.counts.failed)}</span> : formatCount(b.counts.failed)}</td>
                  <td>
                    <div className="progress">
                      <div className="progress-bar" role="progressbar" aria-label={`${b.name} synced`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={b.percentSynced}><span style={{ width: `${Math.min(100, b.percentSynced)}%` }} /></div>
                      <span className="small nowrap">{formatPercent(b.percentSynced)}</span>
                    </div>
                  </td>
                  <td className="nowrap" title={b.lastSyncAt ? new Date(b.lastSyncAt).toISOString() : undefined}>{formatAgo(b.lastSyncAt, now)}</td>
                  <td>
                    <BatchActions
                      batch={b}
                      compact
                      onError={setError}
                      onUpdated={(updated, message) => {
                        setAnnounce(message);
                        setBatches((list) => (list ?? []).flatMap((x) => (x.name !== b.name ? [x] : updated ? [updated] : [])));
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
