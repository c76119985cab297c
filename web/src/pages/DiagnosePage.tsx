import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api.ts';
import { CredentialFields } from '../components/CredentialFields.tsx';
import { DiagnoseReportView } from '../components/DiagnoseReportView.tsx';
import { TestAnnouncement } from '../components/TestAnnouncement.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { href } from '../router.ts';
import { useAction } from '../use-action.ts';
import type { EndpointTestResult, EndpointView } from '../types.ts';

/** Runs the endpoint's connection test (the diagnose probe) and shows every step with its verdict. */
export function DiagnosePage({ name }: { name?: string | null }) {
  const endpointName = name ?? '';
  const [endpoint, setEndpoint] = useState<EndpointView | null>(null);
  const [mailbox, setMailbox] = useState('');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [result, setResult] = useState<EndpointTestResult | null>(null);
  const { busy, error, setError, run: act } = useAction();

  useEffect(() => {
    api.get<EndpointView>(`/api/endpoints/${encodeURIComponent(endpointName)}`).then(setEndpoint, setError);
    void run();
    // Runs the test once when the page opens (without credentials: up to the IMAP step).
  }, [endpointName]);

  async function run(ev?: FormEvent) {
    ev?.preventDefault();
    await act(async () => {
      const body: Record<string, string> = {};
      if (mailbox.trim()) body.mailbox = mailbox.trim();
      if (user.trim()) body.user = user.trim();
      if (password) body.password = password;
      setResult(await api.post<EndpointTestResult>(`/api/endpoints/${encodeURIComponent(endpointName)}/test`, body));
    });
  }

  return (
    <>
      <div className="breadcrumb"><a href={href('endpoints')}>Endpoints</a> ›</div>
      <div className="page-head">
        <div>
          <h1>Diagnose {endpointName}</h1>
          {endpoint && <div className="sub mono">{endpoint.host}:{endpoint.port} · {endpoint.security}{endpoint.admin ? ` · admin ${endpoint.admin.user} (${endpoint.admin.format})` : ''}</div>}
        </div>
        <a className="button" href={href('endpoints', endpointName, 'edit')}>Edit endpoint</a>
      </div>
      <div className="panel">
        <form onSubmit={run}>
          <p className="muted small" style={{ marginTop: 0 }}>
            Walks DNS → TCP → TLS → IMAP → login with the endpoint's settings and names the failing layer with the fix.
            Sign-in is tested when there is something to sign in with: a mailbox (through the endpoint's admin) or a user and password.
          </p>
          <div className="form-grid">
            {endpoint?.admin ? (
              <div className="field">
                <label htmlFor="diag-mailbox">Mailbox to open through the admin</label>
                <input id="diag-mailbox" type="text" value={mailbox} onChange={(e) => setMailbox(e.target.value)} placeholder="alice@contoso.com" />
              </div>
            ) : (
              <CredentialFields idPrefix="diag" user={user} password={password} onUser={setUser} onPassword={setPassword} />
            )}
          </div>
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Testing…' : 'Run the test again'}</button>
        </form>
      </div>
      <TestAnnouncement busy={busy} outcome={result} />
      <ErrorBox error={error} />
      {result && (
        <div className="panel">
          {result.untrustedCertificateAccepted && (
            <div className="alert warn"><strong>Untrusted certificate accepted</strong>{result.untrustedCertificateAccepted.message}</div>
          )}
          {result.warnings.map((w) => <div key={w.code} className="alert warn">{w.message}</div>)}
          {result.login === 'skipped' && <p className="small muted">Sign-in was not tested: give a {endpoint?.admin ? 'mailbox' : 'user name and password'} above to test it.</p>}
          <DiagnoseReportView report={result.report} title={`Diagnosis of ${endpointName}`} />
        </div>
      )}
    </>
  );
}
