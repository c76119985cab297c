/**
 * The verdicts of `mailshift diagnose`. Every code, message and remediation lives in the one error
 * catalog (src/domain/errors.ts, documented in docs/errors.md); this file only lists which catalog
 * codes diagnose reports and turns them into verdicts. What a particular run found out (the phase
 * that timed out, further certificate problems…) is appended to the catalog's remediation.
 */
import { ERROR_CATALOG, EXIT_CODES, MailshiftError, exitCodeFor, type ErrorCode, type ErrorParams } from '../domain/errors.ts';

/** The catalog codes a diagnose run can end with. */
export const DIAGNOSE_CODES = [
  'CONN_DNS', 'CONN_REFUSED', 'CONN_UNREACHABLE', 'CONN_TIMEOUT', 'CONN_NOT_IMAP', 'CONN_GREETING_BYE', 'CONN_TOO_MANY',
  'TLS_EXPECTED', 'TLS_PLAINTEXT_PORT', 'TLS_STARTTLS_UNAVAILABLE', 'TLS_UNTRUSTED', 'TLS_SELF_SIGNED',
  'TLS_INCOMPLETE_CHAIN', 'TLS_INTERCEPTED', 'TLS_NAME_MISMATCH', 'TLS_EXPIRED', 'TLS_HANDSHAKE', 'TLS_LEGACY_ONLY',
  'TLS_NO_SHARED_CIPHER',
  'AUTH_FAILED', 'AUTH_APP_PASSWORD_REQUIRED', 'AUTH_IMAP_DISABLED', 'AUTH_IMPERSONATION_DENIED', 'AUTH_UNAVAILABLE',
  'AUTH_LOGIN_DISABLED',
  'IMAP_PROTOCOL',
] as const satisfies readonly ErrorCode[];

export type DiagnoseCode = (typeof DIAGNOSE_CODES)[number];

export interface DiagnoseVerdict {
  /** Stable code: one of DIAGNOSE_CODES (a catalog code), or DIAGNOSE_OK. */
  code: DiagnoseCode | 'DIAGNOSE_OK';
  message: string;
  remediation: string;
}

/**
 * Builds a verdict from the catalog. `extraRemediation` appends what this particular run found out
 * (e.g. "nothing answered after the TCP connection was accepted") to the stable text.
 */
export function verdict(code: DiagnoseCode, params: ErrorParams, extraRemediation?: string): DiagnoseVerdict {
  const err = new MailshiftError(code, params);
  return {
    code,
    message: err.message,
    remediation: extraRemediation ? `${err.remediation} ${extraRemediation}` : err.remediation,
  };
}

/**
 * Exit code of a verdict: the failing layer, as `exitCodeFor` maps the catalog class (3 connection,
 * 4 TLS, 5 login), with one exception: an IMAP server that answers nonsense (IMAP_PROTOCOL) is a
 * connection-layer problem for someone probing it (wrong port or service), so 3 rather than
 * migrate's 7 (partial).
 */
export function exitCodeForVerdict(v: DiagnoseVerdict): number {
  if (v.code === 'DIAGNOSE_OK') return EXIT_CODES.success;
  if (ERROR_CATALOG[v.code].class === 'protocol') return EXIT_CODES.connection;
  return exitCodeFor(new MailshiftError(v.code));
}

/** Formats a timeout the way the seeds do: "00:00:15" (fractions only when the timeout has them). */
export function formatElapsed(ms: number): string {
  const total = ms / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  const sec = Number.isInteger(s) ? pad(s) : s.toFixed(3).padStart(6, '0');
  return `${pad(h)}:${pad(m)}:${sec}`;
}
