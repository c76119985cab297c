/** Human rendering of a DiagnoseReport: one line per step, then the first failure's cause and fix. */
import type { CertificateDescription, DiagnoseReport, DiagnoseStep } from './diagnose-types.ts';

const MARK: Record<DiagnoseStep['status'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skipped: 'SKIP' };

function chainLines(chain: unknown, label: string): string[] {
  if (!Array.isArray(chain) || chain.length === 0) return [];
  const lines = [`         ${label}:`];
  (chain as CertificateDescription[]).forEach((c, i) => {
    lines.push(`           ${i}: ${c.subject}  (issuer: ${c.issuer}; valid ${c.validFrom.slice(0, 10)} to ${c.validTo.slice(0, 10)}${c.selfSigned ? '; self-signed' : ''})`);
  });
  return lines;
}

export function formatReport(report: DiagnoseReport): string {
  const t = report.target;
  const out: string[] = [];
  out.push(`mailshift diagnose ${t.host}:${t.port} (--security ${t.security}${t.user ? `, user ${t.user}` : ''})`);
  for (const s of report.steps) {
    const ms = s.status === 'skipped' && s.ms === 0 ? '' : `${s.ms} ms`;
    out.push(`  ${MARK[s.status]}  ${s.step.padEnd(5)} ${ms.padStart(8)}  ${s.summary}`);
    if (s.step === 'tls') {
      out.push(...chainLines(s.details.chain, 'certificates sent'));
      out.push(...chainLines(s.details.chainAsSent, 'certificates sent (described by a diagnostic handshake, not trusted)'));
      const supported = s.details.supportedVersions;
      if (Array.isArray(supported)) out.push(`         server supports: ${supported.length > 0 ? supported.join(', ') : 'no TLS version this client can speak'}`);
    }
    if (s.step === 'imap' && s.status !== 'fail' && s.status !== 'skipped') {
      const flags = s.details.capabilityFlags as Record<string, boolean> | undefined;
      if (flags) {
        const has = Object.entries(flags).filter(([, v]) => v).map(([k]) => k);
        const missing = Object.entries(flags).filter(([, v]) => !v).map(([k]) => k);
        out.push(`         offers: ${has.join(' ') || '-'}`);
        out.push(`         lacks:  ${missing.join(' ') || '-'}`);
      }
    }
    for (const n of s.notes) out.push(`         ${n.severity === 'warn' ? 'warning' : 'note'}: ${n.message}`);
  }
  out.push('');
  const v = report.verdict;
  if (report.ok) {
    out.push(`OK: ${v.message}`);
  } else {
    out.push(`FAILED at ${report.failedStep} [${v.code}]: ${v.message}`);
    out.push(`How to fix: ${v.remediation}`);
  }
  return `${out.join('\n')}\n`;
}
