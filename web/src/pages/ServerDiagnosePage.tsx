import { useState, type FormEvent } from 'react';
import { api } from '../api.ts';
import { CredentialFields } from '../components/CredentialFields.tsx';
import { DiagnoseReportView } from '../components/DiagnoseReportView.tsx';
import { TestAnnouncement } from '../components/TestAnnouncement.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { href } from '../router.ts';
import { useAction } from '../use-action.ts';
import type { DiagnoseReport } from '../types.ts';

type Security = 'ssl' | 'starttls' | 'none';

/**
 * The troubleshooter for any IMAP server, before it is an endpoint (POST /api/diagnose, what
 * `mailshift diagnose` runs): DNS → TCP → TLS → IMAP → login, the failing layer named with its fix.
 */
export function ServerDiagnosePage() {
  const [host, setHost] = useState('');
  const [security, setSecurity] = useState<Security>('ssl');
  const [port, setPort] = useState('');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [caPem, setCaPem] = useState<string | null>(null);
  const [caFileName, setCaFileName] = useState<string | null>(null);
  const [result, setResult] = useState<DiagnoseReport | null>(null);
  const { busy, error, run: act } = useAction();

  async function readCa(file: File | undefined) {
    if (!file) return;
    setCaPem(await file.text());
    setCaFileName(file.name);
  }

  async function run(ev: FormEvent) {
    ev.preventDefault();
    setResult(null);
    await act(async () => {
      const body: Record<string, unknown> = { host: host.trim(), security };
      if (port.trim()) body.port = Number(port);
      if (user.trim()) body.user = user.trim();
      if (password) body.password = password;
      if (caPem) body.caPem = caPem;
      setResult(await api.post<DiagnoseReport>('/api/diagnose', body));
    });
  }

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Diagnose a server</h1>
          <div className="sub">Any IMAP server, before it becomes an endpoint: the same test as <span className="mono">mailshift diagnose</span>.</div>
        </div>
        <a className="button" href={href('endpoints', 'new')}>New endpoint</a>
      </div>
      <div className="panel">
        <form onSubmit={run} aria-label="Diagnose a server">
          <p className="muted small" style={{ marginTop: 0 }}>
            Walks DNS → TCP → TLS (with the certificate chain) → IMAP → login and names the failing layer with the fix.
            Sign-in is tested when a user name is given; the password is used for that step only and never stored.
          </p>
          <div className="form-grid">
            <div className="field">
              <label htmlFor="sd-host">IMAP server</label>
              <input id="sd-host" type="text" value={host} onChange={(e) => setHost(e.target.value)} required placeholder="imap.contoso.com" />
            </div>
            <div className="field">
              <label htmlFor="sd-security">Encryption</label>
              <select id="sd-security" value={security} onChange={(e) => setSecurity(e.target.value as Security)}>
                <option value="ssl">SSL/TLS (993)</option>
                <option value="starttls">STARTTLS (143)</option>
                <option value="none">None (plain text)</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="sd-port">Port</label>
              <input id="sd-port" type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} placeholder={security === 'ssl' ? '993' : '143'} />
            </div>
            <CredentialFields idPrefix="sd" user={user} password={password} onUser={setUser} onPassword={setPassword} />
            <div className="field">
              <label htmlFor="sd-ca">Trusted CA certificate (PEM), for a private CA</label>
              <input id="sd-ca" type="file" accept=".pem,.crt,.cer,text/plain" onChange={(e) => void readCa(e.target.files?.[0])} />
              <span className="hint">{caFileName ? `Selected: ${caFileName}` : 'Trusted in addition to the system store.'}</span>
            </div>
          </div>
          <button type="submit" className="primary" disabled={busy || host.trim() === ''}>{busy ? 'Testing…' : 'Run the test'}</button>
        </form>
      </div>
      <TestAnnouncement busy={busy} outcome={result} />
      <ErrorBox error={error} />
      {result && (
        <div className="panel">
          <DiagnoseReportView report={result} title={`Diagnosis of ${result.target.host}`} />
        </div>
      )}
    </>
  );
}
