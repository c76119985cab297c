import { Fragment, useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError, download } from '../api.ts';
import { BatchActions } from '../components/BatchActions.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { Pager } from '../components/Pager.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { ThroughputChart, type ThroughputSample } from '../components/ThroughputChart.tsx';
import { formatAgo, formatBytes, formatCount, formatDuration, formatMB, formatPercent, formatRate, formatTime } from '../format.ts';
import { LiveIndicator, useLiveEvents } from '../live.tsx';
import { href, navigate } from '../router.ts';
import { USER_STATUSES, type BatchDetail, type BatchSummary, type BatchUser, type CsvProblem, type SkippedItem, type UsersPage } from '../types.ts';

const FILTERS: Array<{ value: string; label: string }> = [
  { value: '', label: 'All users' },
  { value: 'Failed,IncrementalFailed', label: 'Failed (any)' },
  { value: 'Queued,Syncing,IncrementalSyncing,Completing', label: 'In progress' },
  { value: 'Synced,IncrementalSynced,Completed', label: 'Synced (any)' },
  ...USER_STATUSES.map((s) => ({ value: s, label: s })),
];
const SORTS: Array<{ value: string; label: string }> = [
  { value: 'row', label: 'CSV order' },
  { value: 'email', label: 'E-mail address' },
  { value: 'status', label: 'Status' },
  { value: 'lastSync', label: 'Last sync (newest)' },
  { value: 'itemsSynced', label: 'Items synced (most)' },
];

interface Rate { rate: number; at: number }
const ACTIVE = new Set(['Starting', 'Syncing', 'IncrementalSyncing', 'Completing', 'Synced', 'SyncedWithErrors']);

/** One batch: summary, actions, throughput chart, the per-user report (paged on the server), error report. */
export function BatchDetailsPage({ name }: { name?: string | null }) {
  const batchName = name ?? '';
  const [batch, setBatch] = useState<BatchDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [announce, setAnnounce] = useState('');
  const [status, setStatus] = useState('');
  const [q, setQ] = useState('');
  const [warned, setWarned] = useState(false);
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState('row');
  const [offset, setOffset] = useState(0);
  const [limit, setLimit] = useState(50);
  const [page, setPage] = useState<UsersPage | null>(null);
  const [expanded, setExpanded] = useState<string | null>(null);
  const [samples, setSamples] = useState<ThroughputSample[]>([]);
  const [rates, setRates] = useState<Record<string, Rate>>({});
  const [now, setNow] = useState(Date.now());
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const lastItems = useRef<{ t: number; items: number } | null>(null);
  const refetchTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const loadBatch = useCallback(async () => {
    try {
      setBatch(await api.get<BatchDetail>(`/api/batches/${encodeURIComponent(batchName)}`));
    } catch (err) {
      setError(err);
    }
  }, [batchName]);

  // The newest `user` event of each user and when it came: a users page that was read before an
  // event but arrives after it must not put the older state back (it would stay until the next change,
  // and a finished user has none).
  const userEvents = useRef(new Map<string, { user: BatchUser; at: number }>());

  const loadUsers = useCallback(async () => {
    try {
      const started = performance.now();
      const fetched = await api.get<UsersPage>(`/api/batches/${encodeURIComponent(batchName)}/users`, { status, q: query, warned: warned || undefined, offset, limit, sort });
      setPage({
        ...fetched,
        users: fetched.users.map((x) => {
          const seen = userEvents.current.get(x.emailAddress);
          return seen && seen.at > started ? { ...x, ...seen.user } : x;
        }),
      });
    } catch (err) {
      setError(err);
    }
  }, [batchName, status, query, warned, offset, limit, sort]);

  useEffect(() => { void loadBatch(); }, [loadBatch]);
  useEffect(() => { void loadUsers(); }, [loadUsers]);
  useEffect(() => {
    const t = setTimeout(() => { setQuery(q.trim()); setOffset(0); }, 300);
    return () => clearTimeout(t);
  }, [q]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 2000);
    return () => clearInterval(t);
  }, []);
  const active = batch ? ACTIVE.has(batch.status) && batch.counts.syncing > 0 : false;
  useEffect(() => {
    // Nothing runs: no progress events come, so the chart would hold its last rate. Record zeros instead.
    if (active) return;
    const t = setInterval(() => {
      setSamples((list) => {
        const last = list[list.length - 1];
        if (!last) return list;
        const at = Date.now();
        lastItems.current = lastItems.current ? { ...lastItems.current, t: at } : null;
        return [...list.filter((x) => x.t > at - 30 * 60_000), { t: at, rate: 0 }];
      });
    }, 5000);
    return () => clearInterval(t);
  }, [active]);

  const scheduleRefetch = useCallback(() => {
    if (refetchTimer.current) return;
    refetchTimer.current = setTimeout(() => {
      refetchTimer.current = null;
      void loadUsers();
    }, 1500);
  }, [loadUsers]);
  useEffect(() => () => { if (refetchTimer.current) clearTimeout(refetchTimer.current); }, []);

  function addSample(summary: BatchSummary, time: number) {
    const prev = lastItems.current;
    lastItems.current = { t: time, items: summary.itemsSynced };
    if (!prev || time <= prev.t) return;
    const rate = Math.max(0, (summary.itemsSynced - prev.items) / ((time - prev.t) / 1000));
    setSamples((s) => [...s.filter((x) => x.t > time - 30 * 60_000), { t: time, rate }]);
  }

  const connected = useLiveEvents(batchName, (e) => {
    const d = e.data as { time?: number; batch?: BatchSummary | string; batches?: BatchSummary[]; previousStatus?: string | null; user?: BatchUser; itemsPerSecond?: number | null; name?: string };
    const time = d.time ?? Date.now();
    if (e.event === 'snapshot' && d.batches) {
      const b = d.batches.find((x) => x.name.toLowerCase() === batchName.toLowerCase());
      if (b) {
        setBatch((old) => (old ? { ...old, ...b } : old));
        addSample(b, time);
      }
    } else if (e.event === 'batch' && d.batch && typeof d.batch === 'object') {
      const b = d.batch;
      if (b.name.toLowerCase() !== batchName.toLowerCase()) return;
      setBatch((old) => {
        // Users just added (add-users) are not announced one by one: refetch the page when the total changes.
        if (old && old.counts.total !== b.counts.total) scheduleRefetch();
        return old ? { ...old, ...b } : old;
      });
      addSample(b, time);
      if (d.previousStatus && d.previousStatus !== b.status) setAnnounce(`The batch is now ${b.status}.`);
    } else if (e.event === 'user' && d.user) {
      const u = d.user;
      userEvents.current.set(u.emailAddress, { user: u, at: performance.now() });
      if (typeof d.itemsPerSecond === 'number') setRates((r) => ({ ...r, [u.emailAddress]: { rate: d.itemsPerSecond!, at: time } }));
      setPage((p) => {
        if (!p) return p;
        // A user this page has not listed yet, with room for it on this page (just added): refetch.
        if (!p.users.some((x) => x.emailAddress === u.emailAddress) && !status && !query && p.users.length < limit) scheduleRefetch();
        return { ...p, users: p.users.map((x) => (x.emailAddress === u.emailAddress ? { ...x, ...u } : x)) };
      });
      if (d.previousStatus && d.previousStatus !== u.status) {
        setAnnounce(`${u.emailAddress} is now ${u.status}.`);
        if (status || sort !== 'row') scheduleRefetch();
      }
    } else if (e.event === 'batch-removed' && d.name?.toLowerCase() === batchName.toLowerCase()) {
      navigate('batches');
    }
  });

  async function downloadReport() {
    setDownloadError(null);
    try {
      await download(`/api/batches/${encodeURIComponent(batchName)}/report.csv`, {}, `${batchName}-report.csv`);
      setAnnounce('The error report was downloaded.');
    } catch (err) {
      setDownloadError(err);
    }
  }

  if (error && !batch) {
    return (
      <>
        <div className="breadcrumb"><a href={href('batches')}>Migration batches</a> ›</div>
        <h1>{batchName}</h1>
        <ErrorBox error={error} />
      </>
    );
  }
  if (!batch) return <p className="muted">Loading…</p>;

  const rateFor = (u: BatchUser): number | null => {
    if (typeof u.itemsPerSecond === 'number') return u.itemsPerSecond;
    const r = rates[u.emailAddress];
    if (!r || !u.running || now - r.at > 15_000) return null;
    return r.rate;
  };

  return (
    <>
      <div className="breadcrumb"><a href={href('batches')}>Migration batches</a> ›</div>
      <div className="page-head">
        <div>
          <h1>{batch.name} <StatusBadge status={batch.status} /></h1>
          <div className="sub">{batch.source} → {batch.target} · created {formatTime(batch.createdAt)}{batch.startedAt ? ` · started ${formatTime(batch.startedAt)}` : ''}{batch.completedAt ? ` · completed ${formatTime(batch.completedAt)}` : ''}</div>
        </div>
        <div className="row">
          <LiveIndicator connected={connected} />
          <button type="button" className="primary" onClick={() => void downloadReport()}>Download error report</button>
        </div>
      </div>
      <div aria-live="polite" role="status" className="visually-hidden">{announce}</div>
      <ErrorBox error={downloadError} title="The report could not be downloaded." />
      <BatchActions
        batch={batch}
        actions={['start', 'stop', 'complete', 'sync-now', 'retry', 'remove']}
        onError={setActionError}
        onUpdated={(b, message) => {
          setAnnounce(message);
          if (b) { setBatch((old) => (old ? { ...old, ...b } : old)); void loadUsers(); } else navigate('batches');
        }}
      />
      <ErrorBox error={actionError} />
      {batch.allowedCommands.includes('add-users') && <AddUsers batch={batchName} onAdded={(n) => { setAnnounce(`${n} users added.`); void loadBatch(); void loadUsers(); }} />}
      {batch.warnings.map((w, i) => <div key={i} className="alert warn" role="note"><strong>Warning</strong>{w}</div>)}

      <div className="stats" aria-label="Batch totals">
        <Stat label="Total users" value={formatCount(batch.counts.total)} />
        <Stat label="Synced" value={formatCount(batch.counts.synced)} />
        <Stat label="Finalized" value={formatCount(batch.counts.finalized)} />
        <Stat label="Failed" value={formatCount(batch.counts.failed)} tone={batch.counts.failed > 0 ? 'bad' : undefined} />
        <Stat label="Syncing" value={formatCount(batch.counts.syncing)} />
        <Stat label="Queued" value={formatCount(batch.counts.queued)} />
        <Stat label="% synced" value={formatPercent(batch.percentSynced)} />
        <Stat label="Items synced" value={formatCount(batch.itemsSynced)} />
        <Stat label="Items skipped" value={formatCount(batch.itemsSkipped)} />
        <Stat label="Data" value={formatBytes(batch.bytesSynced)} />
        <Stat label="Last sync" value={formatAgo(batch.lastSyncAt, now)} />
      </div>

      <div className="grid-2">
        <section className="panel" aria-labelledby="chart-title">
          <h2 id="chart-title">Throughput</h2>
          <ThroughputChart samples={samples} />
        </section>
        <section className="panel" aria-labelledby="settings-title">
          <h2 id="settings-title">Settings</h2>
          <dl className="kv">
            <dt>Excluded folders</dt><dd>{batch.settings.excludeFolders.length ? batch.settings.excludeFolders.join(', ') : 'none'}</dd>
            <dt>Start date</dt><dd>{batch.settings.since ? new Date(batch.settings.since).toISOString().slice(0, 10) : 'all mail'}</dd>
            <dt>Maximum message size</dt><dd>{formatBytes(batch.settings.maxMessageSize)}</dd>
            <dt>Incremental sync every</dt><dd>{formatDuration(batch.settings.incrementalIntervalMs / 1000)}</dd>
            <dt>Notification</dt><dd>{batch.settings.notify.length ? batch.settings.notify.join(', ') : 'none'}</dd>
            {batch.settings.completeAfter && <><dt>Complete after</dt><dd>{formatTime(batch.settings.completeAfter)}</dd></>}
          </dl>
        </section>
      </div>

      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <div className="toolbar">
          <label className="small" htmlFor="status-filter">Status</label>
            <select id="status-filter" value={status} onChange={(e) => { setStatus(e.target.value); setOffset(0); }}>
              {FILTERS.map((f) => <option key={f.value} value={f.value}>{f.label}{f.value && !f.value.includes(',') && batch.counts.byStatus[f.value as keyof typeof batch.counts.byStatus] !== undefined ? ` (${batch.counts.byStatus[f.value as keyof typeof batch.counts.byStatus]})` : ''}</option>)}
            </select>
          <label className="small" htmlFor="user-search">Search</label>
            <input id="user-search" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="address or user name" />
          <label className="small nowrap"><input type="checkbox" checked={warned} onChange={(e) => { setWarned(e.target.checked); setOffset(0); }} /> Only users with warnings</label>
          <label className="small" htmlFor="user-sort">Sort</label>
            <select id="user-sort" value={sort} onChange={(e) => { setSort(e.target.value); setOffset(0); }}>
              {SORTS.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
            </select>
        </div>
        <div className="table-wrap">
          <table aria-describedby="users-title">
            <thead>
              <tr>
                <th scope="col" className="num">Row</th>
                <th scope="col">User</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Items Synced</th>
                <th scope="col" className="num">Items Skipped</th>
                <th scope="col" className="num">MB</th>
                <th scope="col" className="num">msg/s</th>
                <th scope="col" className="num">ETA</th>
                <th scope="col">Last sync</th>
                <th scope="col">Error / warnings</th>
              </tr>
            </thead>
            <tbody>
              {page && page.users.length === 0 && <tr><td colSpan={10} className="empty">No user matches.</td></tr>}
              {page?.users.map((u) => {
                const rate = rateFor(u);
                const eta = rate && rate > 0 && typeof u.itemsTotal === 'number' ? Math.max(0, u.itemsTotal - u.itemsSynced - u.itemsSkipped) / rate : null;
                const open = expanded === u.emailAddress;
                return (
                  <Fragment key={u.emailAddress}>
                    <tr data-user={u.emailAddress} aria-selected={open}>
                      <td className="num muted">{u.row}</td>
                      <td>
                        <button type="button" className="link" aria-expanded={open} aria-controls={`user-${u.row}`} onClick={() => setExpanded(open ? null : u.emailAddress)}>{u.emailAddress}</button>
                        {u.userName && u.userName.toLowerCase() !== u.emailAddress.toLowerCase() && <div className="small muted">{u.userName}</div>}
                      </td>
                      <td><StatusBadge status={u.status} />{u.attempts > 1 && <div className="small muted">attempt {u.attempts}</div>}</td>
                      <td className="num">{formatCount(u.itemsSynced)}{typeof u.itemsTotal === 'number' ? <span className="muted small"> / {formatCount(u.itemsTotal)}</span> : null}</td>
                      <td className="num">{formatCount(u.itemsSkipped)}</td>
                      <td className="num">{formatMB(u.bytesSynced)}</td>
                      <td className="num">{formatRate(rate)}</td>
                      <td className="num nowrap">{eta !== null ? formatDuration(eta) : '—'}</td>
                      <td className="nowrap" title={u.lastSyncAt ? formatTime(u.lastSyncAt) : undefined}>{formatAgo(u.lastSyncAt, now)}{u.nextSyncAt && !u.running ? <div className="small muted">next {formatTime(u.nextSyncAt)}</div> : null}</td>
                      <td style={{ maxWidth: '28rem' }}>
                        {u.error ? (
                          <>
                            <div style={{ color: 'var(--bad)' }}>{u.error.message}</div>
                            <div className="small"><b>What to do:</b> {u.error.remediation}</div>
                            <div className="error-code">{u.error.code}</div>
                          </>
                        ) : u.warnings.length === 0 ? <span className="muted">—</span> : null}
                        {u.warnings.map((w, i) => <div key={i} className="small warning-text" data-warning>Warning: {w}</div>)}
                      </td>
                    </tr>
                    {open && (
                      <tr id={`user-${u.row}`}>
                        <td colSpan={10} style={{ background: '#fafbfc' }}><UserDetails batch={batchName} address={u.emailAddress} /></td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
        {page && <Pager label="Users pages" offset={page.offset} limit={limit} total={page.total} onChange={(o, l) => { setOffset(o); setLimit(l); }} />}
      </section>

      <SkippedItems batch={batchName} count={batch.itemsSkipped} />
    </>
  );
}

function Stat({ label, value, tone }: { label: string; value: string; tone?: 'bad' }) {
  return (
    <div className="stat">
      <div className="label">{label}</div>
      <div className="value" style={tone === 'bad' ? { color: 'var(--bad)' } : undefined}>{value}</div>
    </div>
  );
}

function SkippedTable({ items, withUser }: { items: Array<SkippedItem & { emailAddress?: string }>; withUser?: boolean }) {
  if (items.length === 0) return <p className="muted small">No skipped items.</p>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            {withUser && <th scope="col">User</th>}
            <th scope="col">Folder</th><th scope="col">Date</th><th scope="col">Subject</th><th scope="col" className="num">Size</th><th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {items.map((s, i) => (
            <tr key={i}>
              {withUser && <td>{s.emailAddress}</td>}
              <td>{s.folder}</td>
              <td className="nowrap">{formatTime(s.date)}</td>
              <td>{s.subject ?? <span className="muted">(no subject)</span>}</td>
              <td className="num">{formatBytes(s.size)}</td>
              <td>{s.reason || s.kind}{s.remediation && <div className="small muted">{s.remediation}</div>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function UserDetails({ batch, address }: { batch: string; address: string }) {
  const [detail, setDetail] = useState<(BatchUser & { skippedItems: SkippedItem[] }) | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.get<BatchUser & { skippedItems: SkippedItem[] }>(`/api/batches/${encodeURIComponent(batch)}/users/${encodeURIComponent(address)}`).then(setDetail, setError);
  }, [batch, address]);
  if (error) return <ErrorBox error={error} />;
  if (!detail) return <p className="muted small">Loading…</p>;
  return (
    <div>
      <dl className="kv">
        <dt>Source login</dt><dd>{detail.userName}</dd>
        <dt>Sync started</dt><dd>{formatTime(detail.syncStartedAt)}</dd>
        <dt>Last sync</dt><dd>{formatTime(detail.lastSyncAt)}</dd>
        <dt>Next sync</dt><dd>{formatTime(detail.nextSyncAt)}</dd>
        <dt>Attempts</dt><dd>{detail.attempts}</dd>
      </dl>
      <h3>Skipped items ({detail.skippedItems.length})</h3>
      <SkippedTable items={detail.skippedItems} />
    </div>
  );
}

/** The batch's skipped items (from the JSON report), loaded on demand: a report can be large. */
function SkippedItems({ batch, count }: { batch: string; count: number }) {
  const [items, setItems] = useState<Array<SkippedItem & { emailAddress: string }> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function load() {
    setBusy(true);
    try {
      const r = await api.get<{ skippedItems: Array<{ emailAddress: string; folder: string; date: number; subject: string | null; size: number; kind: string; reason?: string; remediation?: string }> }>(`/api/batches/${encodeURIComponent(batch)}/report.json`);
      setItems(r.skippedItems.map((s) => ({ ...s, reason: s.reason ?? s.kind, remediation: s.remediation ?? '' })));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="panel" aria-labelledby="skipped-title" style={{ marginTop: '1rem' }}>
      <div className="row">
        <h2 id="skipped-title" style={{ margin: 0 }}>Skipped items ({formatCount(count)})</h2>
        <span className="spacer" />
        {items === null && <button type="button" onClick={() => void load()} disabled={busy || count === 0}>{busy ? 'Loading…' : 'Show skipped items'}</button>}
      </div>
      <p className="small muted">Messages not copied: larger than the maximum message size, over the item limit, or refused by the target. Each user's list is also under its row above.</p>
      <ErrorBox error={error} />
      {items && <SkippedTable items={items} withUser />}
    </section>
  );
}

/** add-users: another CSV in the same format; checked as a whole, problems shown with their rows. */
function AddUsers({ batch, onAdded }: { batch: string; onAdded: (added: number) => void }) {
  const [open, setOpen] = useState(false);
  const [problems, setProblems] = useState<CsvProblem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState('');
  const [busy, setBusy] = useState(false);

  async function upload(file: File | undefined) {
    if (!file) return;
    setBusy(true);
    setProblems(null);
    setError(null);
    setResult('');
    try {
      const r = await api.post<{ added: number }>(`/api/batches/${encodeURIComponent(batch)}/users`, { csv: await file.text() });
      setResult(`${r.added} user${r.added === 1 ? '' : 's'} added from ${file.name}.`);
      onAdded(r.added);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'API_CSV_INVALID') setProblems(((err.body as { errors?: CsvProblem[] })?.errors) ?? []);
      else setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (!open) return <p className="small"><button type="button" className="link" onClick={() => setOpen(true)}>Add users to this batch…</button></p>;
  return (
    <div className="panel">
      <div className="field">
        <label htmlFor="add-users-file">Add users from a CSV file (same columns as the batch's)</label>
        <input id="add-users-file" type="file" accept=".csv,text/csv,text/plain" disabled={busy} onChange={(e) => { void upload(e.target.files?.[0]); e.target.value = ''; }} />
      </div>
      <div aria-live="polite">
        {busy && <p className="muted">Adding…</p>}
        {result && <div className="alert ok">{result}</div>}
        {problems && (
          <div className="alert error" role="alert">
            <strong>Nothing was added: the file has {problems.length} problem{problems.length === 1 ? '' : 's'}.</strong>
            <ul className="csv-errors">
              {problems.map((p, i) => <li key={i}><span className="rowno">{p.row !== null ? `Row ${p.row}` : 'File'}</span> {p.message}{p.remediation && <div className="small">{p.remediation}</div>}</li>)}
            </ul>
          </div>
        )}
      </div>
      <ErrorBox error={error} />
      <button type="button" onClick={() => setOpen(false)}>Close</button>
    </div>
  );
}
