import { useCallback, useEffect, useState } from 'react';
import { api } from '../api.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { formatTime } from '../format.ts';
import { href } from '../router.ts';
import type { EndpointView } from '../types.ts';

const SECURITY: Record<string, string> = { ssl: 'SSL/TLS', starttls: 'STARTTLS', none: 'None' };

/** Migration endpoints: list, create/edit, diagnose, remove. */
export function EndpointsPage() {
  const [endpoints, setEndpoints] = useState<EndpointView[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [announce, setAnnounce] = useState('');

  const load = useCallback(async () => {
    try {
      setEndpoints((await api.get<{ endpoints: EndpointView[] }>('/api/endpoints')).endpoints);
    } catch (err) {
      setError(err);
    }
  }, []);
  useEffect(() => { void load(); }, [load]);

  async function remove(name: string) {
    setError(null);
    try {
      await api.del(`/api/endpoints/${encodeURIComponent(name)}`);
      setAnnounce(`Endpoint ${name} was removed.`);
      await load();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Migration endpoints</h1>
          <div className="sub">The IMAP servers batches copy from and to: address, encryption, certificates, admin sign-in and limits.</div>
        </div>
        <a className="button primary" href={href('endpoints', 'new')}>+ New endpoint</a>
      </div>
      <div role="status" aria-live="polite" className="visually-hidden">{announce}</div>
      <ErrorBox error={error} />
      {endpoints === null && !error && <p className="muted">Loading…</p>}
      {endpoints && (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Migration endpoints</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Server</th>
                <th scope="col">Encryption</th>
                <th scope="col">Sign-in</th>
                <th scope="col" className="num">Max migrations</th>
                <th scope="col">Last test</th>
                <th scope="col">Used by</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {endpoints.length === 0 && <tr><td colSpan={8} className="empty">No endpoints yet. <a href={href('endpoints', 'new')}>Create one</a> for the old server and one for the new server.</td></tr>}
              {endpoints.map((e) => (
                <tr key={e.name} data-endpoint={e.name}>
                  <td>
                    <b>{e.name}</b>
                    {e.warnings.map((w) => <div key={w.code} className="small" style={{ color: 'var(--warn)' }}>⚠ {w.message}</div>)}
                  </td>
                  <td className="mono">{e.host}:{e.port}</td>
                  <td>{SECURITY[e.security] ?? e.security}{e.tls.caCertificates > 0 && <div className="small muted">private CA ({e.tls.caCertificates})</div>}</td>
                  <td>{e.admin ? <>admin <b>{e.admin.user}</b><div className="small muted">{e.admin.format}{e.admin.passwordSet ? ', password set' : ''}</div></> : <span className="muted">each user (CSV)</span>}</td>
                  <td className="num">{e.maxConcurrentMigrations}</td>
                  <td>{e.lastTest ? <><span className={`badge ${e.lastTest.ok ? 'ok' : 'bad'}`}>{e.lastTest.ok ? 'passed' : 'failed'}</span><div className="small muted">{formatTime(e.lastTest.at)}{e.lastTest.ok ? '' : ` · ${e.lastTest.code}`}</div></> : <span className="muted">never</span>}</td>
                  <td>{e.batches.length ? e.batches.map((b) => <div key={b}><a href={href('batch', b)}>{b}</a></div>) : <span className="muted">—</span>}</td>
                  <td>
                    <div className="row-actions">
                      <a className="button" href={href('endpoints', e.name, 'diagnose')} aria-label={`Diagnose ${e.name}`}>Diagnose</a>
                      <a className="button" href={href('endpoints', e.name, 'edit')} aria-label={`Edit ${e.name}`}>Edit</a>
                      <button type="button" className="danger" disabled={e.batches.length > 0} title={e.batches.length ? 'Used by a batch: remove the batch first' : undefined} aria-label={`Remove ${e.name}`} onClick={() => setRemoving(e.name)}>Remove</button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog open={removing !== null} title="Remove the endpoint?" confirmLabel="Remove endpoint" danger onCancel={() => setRemoving(null)} onConfirm={() => { const n = removing!; setRemoving(null); void remove(n); }}>
        <p>The endpoint "{removing}" and its stored admin password are deleted. No mailbox is touched.</p>
      </ConfirmDialog>
    </>
  );
}
