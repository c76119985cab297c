import { useId, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api.ts';
import type { AdminFormat, EndpointTestResult, EndpointView, Security, TlsVersion } from '../types.ts';
import { DiagnoseReportView } from './DiagnoseReportView.tsx';
import { ErrorBox } from './ErrorBox.tsx';
import { useAction } from '../use-action.ts';

const FORMATS: Array<{ value: AdminFormat; label: string }> = [
  { value: 'authzid', label: 'SASL PLAIN authorization identity (Dovecot, Cyrus, Zimbra)' },
  { value: 'dovecot', label: 'user*admin (Dovecot master user)' },
  { value: 'exchange', label: 'Domain/Admin/User (Exchange IMAP4)' },
  { value: 'mirapoint', label: '#user@domain#admin# (Mirapoint)' },
  { value: 'template', label: 'Custom template' },
];

/** Create or edit an endpoint. The service tests the connection before saving; the result is shown. */
export function EndpointForm(props: {
  existing: EndpointView | null;
  onSaved: (endpoint: EndpointView, test: EndpointTestResult | null) => void;
  onCancel?: () => void;
  compact?: boolean;
  idPrefix?: string;
}) {
  const e = props.existing;
  const uid = useId();
  const id = (s: string) => `${props.idPrefix ?? 'ep'}-${s}-${uid.replace(/:/g, '')}`;
  const [name, setName] = useState(e?.name ?? '');
  const [host, setHost] = useState(e?.host ?? '');
  const [security, setSecurity] = useState<Security>(e?.security ?? 'ssl');
  const [port, setPort] = useState(e ? String(e.port) : '');
  const [allowInsecure, setAllowInsecure] = useState(e?.security === 'none');
  const [useAdmin, setUseAdmin] = useState(e?.admin !== null && e?.admin !== undefined);
  const [adminUser, setAdminUser] = useState(e?.admin?.user ?? '');
  const [adminPassword, setAdminPassword] = useState('');
  const [adminFormat, setAdminFormat] = useState<AdminFormat>(e?.admin?.format ?? 'authzid');
  const [template, setTemplate] = useState(e?.admin?.loginTemplate ?? '');
  const [caPem, setCaPem] = useState<string | null>(null);
  const [caFileName, setCaFileName] = useState<string | null>(null);
  const [clearCa, setClearCa] = useState(false);
  const [servername, setServername] = useState(e?.tls.servername ?? '');
  const [minTls, setMinTls] = useState<TlsVersion | ''>(e?.tls.minVersion ?? '');
  const [ciphers, setCiphers] = useState(e?.tls.ciphers ?? '');
  const [acceptUntrusted, setAcceptUntrusted] = useState(e?.acceptUntrustedCertificates ?? false);
  const [compress, setCompress] = useState(e?.compress ?? false);
  const [maxMig, setMaxMig] = useState(String(e?.maxConcurrentMigrations ?? 20));
  const [maxInc, setMaxInc] = useState(String(e?.maxConcurrentIncrementalSyncs ?? 10));
  const [skipVerification, setSkipVerification] = useState(false);
  const [testMailbox, setTestMailbox] = useState('');
  const [failedTest, setFailedTest] = useState<EndpointTestResult | null>(null);
  const { busy, error, run } = useAction();

  async function readCa(file: File | undefined) {
    if (!file) return;
    const text = await file.text();
    setCaPem(text);
    setCaFileName(file.name);
    setClearCa(false);
  }

  function body(): Record<string, unknown> {
    const b: Record<string, unknown> = {
      host: host.trim(),
      security,
      maxConcurrentMigrations: Number(maxMig),
      maxConcurrentIncrementalSyncs: Number(maxInc),
      acceptUntrustedCertificates: acceptUntrusted,
      compress,
    };
    if (!e || name.trim() !== e.name) b.name = name.trim();
    if (port.trim()) b.port = Number(port);
    if (security === 'none') b.allowInsecure = allowInsecure;
    const tls: Record<string, unknown> = { servername: servername.trim() || null, minVersion: minTls || null, ciphers: ciphers.trim() || null };
    if (caPem) tls.caPem = caPem;
    else if (clearCa) tls.caPem = null;
    if (!e) {
      // On create, leave unset fields out: the defaults apply.
      for (const k of Object.keys(tls)) if (tls[k] === null) delete tls[k];
    } else {
      // On edit, send only what changed (null = back to the default).
      const was: Record<string, unknown> = { servername: e.tls.servername, minVersion: e.tls.minVersion, ciphers: e.tls.ciphers };
      for (const k of Object.keys(was)) if (tls[k] === was[k]) delete tls[k];
    }
    if (Object.keys(tls).length > 0) b.tls = tls;
    if (useAdmin) {
      const admin: Record<string, unknown> = { user: adminUser.trim(), format: adminFormat };
      if (adminFormat === 'template') admin.loginTemplate = template;
      if (adminPassword) admin.password = adminPassword;
      b.admin = admin;
    } else if (!e || e.admin) {
      b.admin = null;
    }
    if (e) {
      const same: Record<string, unknown> = { host: e.host, security: e.security, maxConcurrentMigrations: e.maxConcurrentMigrations, maxConcurrentIncrementalSyncs: e.maxConcurrentIncrementalSyncs, acceptUntrustedCertificates: e.acceptUntrustedCertificates, compress: e.compress, port: e.port };
      for (const k of Object.keys(same)) if (b[k] === same[k]) delete b[k];
      if (b.admin && e.admin && !adminPassword && e.admin.user === adminUser.trim() && e.admin.format === adminFormat && (adminFormat !== 'template' || e.admin.loginTemplate === template)) delete b.admin;
      if (security === 'none' && e.security === 'none') delete b.allowInsecure;
    }
    if (skipVerification) b.skipVerification = true;
    if (testMailbox.trim()) b.testMailbox = testMailbox.trim();
    return b;
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setFailedTest(null);
    await run(async () => {
      const b = body();
      if (!e && !b.admin) delete b.admin;
      const r = e
        ? await api.patch<{ endpoint: EndpointView; test: EndpointTestResult | null }>(`/api/endpoints/${encodeURIComponent(e.name)}`, b)
        : await api.post<{ endpoint: EndpointView; test: EndpointTestResult | null }>('/api/endpoints', b);
      setAdminPassword('');
      props.onSaved(r.endpoint, r.test);
    }, (err) => {
      if (err instanceof ApiError && err.body && typeof err.body === 'object' && 'test' in err.body) {
        setFailedTest((err.body as { test: EndpointTestResult }).test);
      }
    });
  }

  const needsPassword = useAdmin && (!e?.admin || e.admin.user !== adminUser.trim());
  return (
    <form onSubmit={submit} aria-label={e ? `Edit endpoint ${e.name}` : 'New endpoint'}>
      <fieldset>
        <legend>Server</legend>
        <div className="form-grid">
          <div className="field">
            <label htmlFor={id('name')}>Endpoint name</label>
            <input id={id('name')} type="text" value={name} onChange={(x) => setName(x.target.value)} required maxLength={64} placeholder="old-imap" />
          </div>
          <div className="field">
            <label htmlFor={id('host')}>IMAP server</label>
            <input id={id('host')} type="text" value={host} onChange={(x) => setHost(x.target.value)} required placeholder="imap.contoso.com" />
          </div>
          <div className="field">
            <label htmlFor={id('security')}>Encryption</label>
            <select id={id('security')} value={security} onChange={(x) => setSecurity(x.target.value as Security)}>
              <option value="ssl">SSL/TLS (993)</option>
              <option value="starttls">STARTTLS (143)</option>
              <option value="none">None (plain text)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor={id('port')}>Port</label>
            <input id={id('port')} type="number" min={1} max={65535} value={port} onChange={(x) => setPort(x.target.value)} placeholder={security === 'ssl' ? '993' : '143'} />
          </div>
        </div>
        {security === 'none' && (
          <div className="field inline">
            <input id={id('insecure')} type="checkbox" checked={allowInsecure} onChange={(x) => setAllowInsecure(x.target.checked)} />
            <label htmlFor={id('insecure')}>I understand passwords and mail cross the network unencrypted (allow insecure)</label>
          </div>
        )}
      </fieldset>

      <fieldset>
        <legend>Certificates</legend>
        <div className="field">
          <label htmlFor={id('ca')}>Trusted CA certificate (PEM), for a private CA</label>
          <input id={id('ca')} type="file" accept=".pem,.crt,.cer,text/plain" onChange={(x) => void readCa(x.target.files?.[0])} />
          <span className="hint">
            {caFileName ? `Selected: ${caFileName}` : e && e.tls.caCertificates > 0 ? `${e.tls.caCertificates} certificate(s) stored.` : 'Trusted in addition to the system store.'}
            {e && e.tls.caCertificates > 0 && !caPem && (
              <> <label className="nowrap"><input type="checkbox" checked={clearCa} onChange={(x) => setClearCa(x.target.checked)} /> remove the stored CA</label></>
            )}
          </span>
        </div>
        <div className="form-grid">
          <div className="field">
            <label htmlFor={id('servername')}>Certificate name (SNI)</label>
            <input id={id('servername')} type="text" value={servername} onChange={(x) => setServername(x.target.value)} placeholder="when the server is given as an IP" />
          </div>
          <div className="field">
            <label htmlFor={id('mintls')}>Lowest TLS version</label>
            <select id={id('mintls')} value={minTls} onChange={(x) => setMinTls(x.target.value as TlsVersion | '')}>
              <option value="">Default (TLS 1.2)</option>
              <option value="TLSv1.3">TLS 1.3</option>
              <option value="TLSv1.2">TLS 1.2</option>
              <option value="TLSv1.1">TLS 1.1 (legacy, warned)</option>
              <option value="TLSv1">TLS 1.0 (legacy, warned)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor={id('ciphers')}>Cipher list (last resort)</label>
            <input id={id('ciphers')} type="text" value={ciphers} onChange={(x) => setCiphers(x.target.value)} placeholder="OpenSSL default" />
          </div>
        </div>
        <div className="field inline">
          <input id={id('untrusted')} type="checkbox" checked={acceptUntrusted} onChange={(x) => setAcceptUntrusted(x.target.checked)} />
          <label htmlFor={id('untrusted')}>Accept untrusted certificates (not validated; shown as a warning everywhere — prefer a CA file)</label>
        </div>
        <div className="field inline">
          <input id={id('compress')} type="checkbox" checked={compress} onChange={(x) => setCompress(x.target.checked)} />
          <label htmlFor={id('compress')}>Compress traffic (COMPRESS=DEFLATE, when the server offers it): for servers across a slow link; costs CPU</label>
        </div>
      </fieldset>

      <fieldset>
        <legend>Credentials</legend>
        <div className="field inline">
          <input id={id('useadmin')} type="checkbox" checked={useAdmin} onChange={(x) => setUseAdmin(x.target.checked)} />
          <label htmlFor={id('useadmin')}>Sign in with an admin account on behalf of each mailbox</label>
        </div>
        {!useAdmin && <p className="hint muted small">Each user signs in with the user name and password from the batch CSV (or TargetUserName/TargetPassword on the target side).</p>}
        {useAdmin && (
          <div className="form-grid">
            <div className="field">
              <label htmlFor={id('adminuser')}>Admin user</label>
              <input id={id('adminuser')} type="text" value={adminUser} onChange={(x) => setAdminUser(x.target.value)} required autoComplete="off" />
            </div>
            <div className="field">
              <label htmlFor={id('adminpw')}>Admin password</label>
              <input id={id('adminpw')} type="password" value={adminPassword} onChange={(x) => setAdminPassword(x.target.value)} required={needsPassword} autoComplete="new-password" placeholder={e?.admin?.passwordSet ? 'password set — leave empty to keep' : ''} />
            </div>
            <div className="field">
              <label htmlFor={id('format')}>Login format</label>
              <select id={id('format')} value={adminFormat} onChange={(x) => setAdminFormat(x.target.value as AdminFormat)}>
                {FORMATS.map((f) => <option key={f.value} value={f.value}>{f.label}</option>)}
              </select>
            </div>
            {adminFormat === 'template' && (
              <div className="field">
                <label htmlFor={id('template')}>Login template</label>
                <input id={id('template')} type="text" value={template} onChange={(x) => setTemplate(x.target.value)} placeholder="{localpart}%{admin}" required />
              </div>
            )}
            <div className="field">
              <label htmlFor={id('testmb')}>Test mailbox (optional)</label>
              <input id={id('testmb')} type="text" value={testMailbox} onChange={(x) => setTestMailbox(x.target.value)} placeholder="alice@contoso.com" />
              <span className="hint">Also sign in on behalf of this mailbox during the test.</span>
            </div>
          </div>
        )}
      </fieldset>

      {!props.compact && (
        <fieldset>
          <legend>Limits</legend>
          <div className="form-grid">
            <div className="field">
              <label htmlFor={id('maxmig')}>Maximum concurrent migrations</label>
              <input id={id('maxmig')} type="number" min={1} max={100} value={maxMig} onChange={(x) => setMaxMig(x.target.value)} />
            </div>
            <div className="field">
              <label htmlFor={id('maxinc')}>Maximum concurrent incremental syncs</label>
              <input id={id('maxinc')} type="number" min={1} max={100} value={maxInc} onChange={(x) => setMaxInc(x.target.value)} />
            </div>
          </div>
        </fieldset>
      )}

      <div className="field inline">
        <input id={id('skip')} type="checkbox" checked={skipVerification} onChange={(x) => setSkipVerification(x.target.checked)} />
        <label htmlFor={id('skip')}>Save without testing the connection</label>
      </div>

      <ErrorBox error={error} title={failedTest ? 'The connection test failed: nothing was saved.' : 'The endpoint was not saved.'} />
      {failedTest && <DiagnoseReportView report={failedTest.report} title="Failed connection test" />}

      <div className="row">
        <button type="submit" className="primary" disabled={busy}>{busy ? 'Testing the connection…' : e ? 'Save endpoint' : 'Test and create endpoint'}</button>
        {props.onCancel && <button type="button" onClick={props.onCancel}>Cancel</button>}
      </div>
      <div aria-live="polite" className="visually-hidden">{busy ? 'Testing the connection' : ''}</div>
    </form>
  );
}
