import type { CertificateDescription, DiagnoseReport, DiagnoseStep } from '../types.ts';

const STEP_TITLES: Record<string, string> = {
  dns: 'DNS', tcp: 'TCP', tls: 'TLS', imap: 'IMAP', login: 'Login', size: 'Size',
};
const STATUS_LABEL: Record<string, string> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', skipped: 'SKIP' };

/** The probe's steps (DNS → TCP → TLS with the certificate chain → IMAP capabilities → login) with the verdict. */
export function DiagnoseReportView({ report, title }: { report: DiagnoseReport; title?: string }) {
  const t = report.target;
  return (
    <section aria-label={title ?? 'Connection test'}>
      <div className={`alert ${report.ok ? 'ok' : 'error'}`} role="status">
        <strong>{report.ok ? 'Connection test passed' : `Connection test failed at ${STEP_TITLES[report.failedStep ?? ''] ?? report.failedStep ?? '?'}`}</strong>
        <div>{report.verdict.message}</div>
        {!report.ok && report.verdict.remediation && <div className="remediation"><b>What to do:</b> {report.verdict.remediation}</div>}
        <div className="error-code">{report.verdict.code} · {t.host}:{t.port} ({t.security}){t.user ? `, user ${t.user}` : ''}{t.authzid ? ` for ${t.authzid}` : ''} · {report.totalMs} ms</div>
      </div>
      <ol className="diag-steps">
        {report.steps.map((s) => <StepView key={s.step} step={s} />)}
      </ol>
    </section>
  );
}

function StepView({ step }: { step: DiagnoseStep }) {
  const tone = step.status === 'pass' ? 'ok' : step.status === 'fail' ? 'bad' : step.status === 'warn' ? 'warn' : '';
  return (
    <li className={`diag-step ${step.status}`} data-step={step.step}>
      <div className="head">
        <span className="name">{STEP_TITLES[step.step] ?? step.step}</span>
        <span className={`badge ${tone}`}>{STATUS_LABEL[step.status] ?? step.status}</span>
        <span className="ms">{step.status === 'skipped' ? '' : `${step.ms} ms`}</span>
        <span>{step.summary}</span>
      </div>
      {(step.status !== 'skipped' || step.verdict) && <StepBody step={step} />}
    </li>
  );
}

function asChain(value: unknown): CertificateDescription[] | null {
  return Array.isArray(value) && value.every((c) => c && typeof c === 'object' && 'subject' in c) ? (value as CertificateDescription[]) : null;
}

function StepBody({ step }: { step: DiagnoseStep }) {
  const d = step.details ?? {};
  const chain = asChain(d.chain) ?? asChain(d.chainAsSent);
  const caps = Array.isArray(d.capabilities) ? (d.capabilities as string[]) : null;
  const flags = d.capabilityFlags && typeof d.capabilityFlags === 'object' ? (d.capabilityFlags as Record<string, boolean>) : null;
  const addresses = Array.isArray(d.addresses) ? (d.addresses as unknown[]).map((a) => (typeof a === 'string' ? a : (a as { address?: string })?.address ?? JSON.stringify(a))) : null;
  const hasBody = step.verdict || chain || caps || addresses || step.notes.length > 0 || d.protocol;
  if (!hasBody) return null;
  return (
    <div className="body">
      {step.verdict && (
        <div className="alert error" style={{ margin: '0.2rem 0 0.5rem' }}>
          <div>{step.verdict.message}</div>
          {step.verdict.remediation && <div className="remediation"><b>What to do:</b> {step.verdict.remediation}</div>}
          <div className="error-code">{step.verdict.code}</div>
        </div>
      )}
      {addresses && addresses.length > 0 && <div>Addresses: <span className="mono">{addresses.join(', ')}</span></div>}
      {typeof d.protocol === 'string' && (
        <div>Negotiated <b>{d.protocol}</b>{typeof d.cipher === 'string' ? <> with <span className="mono">{d.cipher}</span></> : null}{d.authorized === true ? ', certificate verified' : d.authorized === false ? ', certificate NOT verified' : ''}</div>
      )}
      {chain && chain.length > 0 && (
        <details open>
          <summary>Certificate chain as sent ({chain.length})</summary>
          <ol className="cert-chain" start={0}>
            {chain.map((c, i) => (
              <li key={i}>
                <div><b>{i}:</b> {c.subject}{c.selfSigned ? ' (self-signed)' : ''}{c.isCa ? ' [CA]' : ''}</div>
                <div className="small muted">issuer: {c.issuer} · valid {c.validFrom} to {c.validTo}</div>
                {c.subjectAltNames && c.subjectAltNames.length > 0 && <div className="small muted">names: {c.subjectAltNames.join(', ')}</div>}
              </li>
            ))}
          </ol>
        </details>
      )}
      {caps && (
        <details>
          <summary>Capabilities ({caps.length}{typeof d.capabilitiesPhase === 'string' ? `, ${d.capabilitiesPhase}` : ''})</summary>
          <div className="caps">{caps.map((c) => <code key={c}>{c}</code>)}</div>
        </details>
      )}
      {flags && (
        <>
          <div className="small">Offers:</div>
          <div className="caps">{Object.entries(flags).filter(([, v]) => v).map(([k]) => <code key={k}>{k}</code>)}</div>
          <div className="small">Lacks:</div>
          <div className="caps lacks">{Object.entries(flags).filter(([, v]) => !v).map(([k]) => <code key={k}>{k}</code>)}</div>
        </>
      )}
      {step.notes.length > 0 && (
        <ul className="small" style={{ margin: '0.3rem 0 0', paddingLeft: '1.1rem' }}>
          {step.notes.map((n, i) => (
            <li key={i}><span className={`badge ${n.severity === 'warn' ? 'warn' : ''}`}>{n.severity}</span> {n.message} <span className="error-code">{n.code}</span></li>
          ))}
        </ul>
      )}
    </div>
  );
}
