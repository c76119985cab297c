/**
 * The verdict table of `mailshift diagnose`. It reuses the catalog's codes and wording where the
 * catalog has them (CONN_DNS, CONN_TIMEOUT, TLS_EXPIRED, AUTH_FAILED…) and adds the causes the
 * catalog does not distinguish yet (DIAGNOSE_CODES). The additions have the same shape as ErrorSpec
 * so the lead can merge them into src/domain/errors.ts unchanged; until then this file is their home.
 *
 * Remediation texts here are written for a person running diagnose by hand: the catalog's texts
 * mention `--{side}-ca` (the migrate command's flags), diagnose says `--ca`.
 */
import { ERROR_CATALOG, EXIT_CODES, type ErrorParams, type ErrorSpec } from '../domain/errors.ts';

export const DIAGNOSE_CODES = {
  CONN_UNREACHABLE: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The connection to the server {host} could not be completed.',
    remediation: 'There is no network route to {host} ({detail}). Check the address, this machine\'s network and routing, and any VPN the server requires.',
  },
  CONN_NOT_IMAP: {
    scope: 'endpoint', retry: 'never', class: 'connection',
    message: 'The server {host} on port {port} does not speak IMAP: it answered "{detail}".',
    remediation: 'Check the port: IMAP is 993 (SSL) or 143 (STARTTLS). Port 110/995 is POP3, 25/587/465 is SMTP, 80/443 is HTTP.',
  },
  CONN_GREETING_BYE: {
    scope: 'endpoint', retry: 'later', class: 'connection',
    message: 'The server {host} closed the connection at once: {detail}',
    remediation: 'The IMAP server refused this client before any login. Check its logs: it may be overloaded, shutting down, or blocking this IP address (fail2ban, intrusion detection, an IP allow list).',
  },
  TLS_EXPECTED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} on port {port} expects TLS from the first byte, but the connection was made with --security {security}.',
    remediation: 'Use --security ssl for this port (993 is implicit TLS). STARTTLS and plain connections belong on port 143.',
  },
  TLS_PLAINTEXT_PORT: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} on port {port} answered in plain text, not TLS.',
    remediation: 'This port speaks plain IMAP: use --security starttls (port 143), or --security ssl with port 993.',
  },
  TLS_STARTTLS_UNAVAILABLE: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} does not offer STARTTLS on port {port}.',
    remediation: 'Use --security ssl with port 993 if the server offers implicit TLS, or enable STARTTLS on the server (Dovecot: ssl = yes with a certificate). Only use --security none on a network you trust: the password then travels unencrypted.',
  },
  TLS_LEGACY_ONLY: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} only offers {versions}, which this client refuses (its minimum is {minimum}).',
    remediation: 'Upgrade TLS on the server: every current IMAP server supports TLS 1.2 with a configuration change (Dovecot: ssl_min_protocol = TLSv1.2; Exchange 2010 cannot, see seed 000: use a cutover, hybrid or PST migration). As a documented last resort, and for this endpoint only, pass --min-tls {lowest} --ciphers "DEFAULT:@SECLEVEL=0", and remove the override after the cutover.',
  },
  TLS_NO_SHARED_CIPHER: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} and this client share no cipher suite (the server only accepted {ciphers}).',
    remediation: 'Enable modern cipher suites on the server (e.g. ECDHE-RSA-AES128-GCM-SHA256 or ECDHE-ECDSA-AES128-GCM-SHA256; Dovecot: ssl_cipher_list). As a last resort for this endpoint only, pass --ciphers with a list that includes the server\'s cipher.',
  },
  TLS_SELF_SIGNED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The certificate of {host} is self-signed ({subject}).',
    remediation: 'Install a certificate from a public CA on the server, or, if you trust this certificate, pass it with --ca FILE (the certificate shown above, in PEM). Certificate validation is never turned off.',
  },
  TLS_INCOMPLETE_CHAIN: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The server {host} sends an incomplete certificate chain: {sent} certificate(s), and the issuer of the last one ("{missingIssuer}") is neither sent nor trusted.',
    remediation: 'Install the intermediate certificate "{missingIssuer}" on the server alongside its certificate (Dovecot: concatenate the leaf and the intermediates in ssl_cert). Browsers fetch missing intermediates by themselves; IMAP clients do not. If "{missingIssuer}" is your own private CA instead, pass it with --ca FILE.',
  },
  TLS_INTERCEPTED: {
    scope: 'endpoint', retry: 'never', class: 'tls',
    message: 'The connection to {host} appears to be intercepted: the certificate presented is for "{subject}", issued by "{issuer}", a CA this machine does not trust.',
    remediation: 'A TLS-inspecting proxy or firewall is probably re-signing the connection. Ask the network team to exclude IMAP (ports 993/143) to {host} from TLS inspection, or, if your organisation requires it, pass the proxy\'s root CA with --ca FILE. Confirm by running the same diagnose from outside this network.',
  },
  AUTH_IMAP_DISABLED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: 'IMAP access is disabled for the account {user} on {host}: {detail}',
    remediation: 'Enable IMAP for this user (and for the organisation). Google Workspace: Admin console > Apps > Gmail > End User Access > POP and IMAP access; Microsoft 365: Set-CASMailbox -ImapEnabled $true; other servers: see their documentation.',
  },
  AUTH_IMPERSONATION_DENIED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: 'The administrator {user} signed in, but may not open the mailbox {authzid} on {host}.',
    remediation: 'Give the admin account access to the users\' mailboxes (Exchange: Full Access or Receive As; Dovecot: a master user in master-users/passdb with master = yes; Google: use OAuth with domain-wide delegation), or use each user\'s own credentials in the CSV.',
  },
  AUTH_APP_PASSWORD_REQUIRED: {
    scope: 'mailbox', retry: 'never', class: 'auth',
    message: 'The server {host} refuses password sign-in for {user}: {detail}',
    remediation: 'The account uses two-step verification or blocks password sign-in: create an app password for IMAP, or use OAuth (XOAUTH2).',
  },
  AUTH_UNAVAILABLE: {
    scope: 'mailbox', retry: 'later', class: 'auth',
    message: 'The server {host} could not check the credentials right now: {detail}',
    remediation: 'A temporary failure on the server (its authentication backend is unavailable). Try again later; if it persists, check the server\'s authentication logs.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type DiagnoseOnlyCode = keyof typeof DIAGNOSE_CODES;

/** Catalog codes diagnose reports, with remediation adjusted to diagnose's own flags. */
const CATALOG_CODES = ['CONN_DNS', 'CONN_REFUSED', 'CONN_TIMEOUT', 'CONN_TOO_MANY', 'TLS_UNTRUSTED', 'TLS_NAME_MISMATCH',
  'TLS_EXPIRED', 'TLS_HANDSHAKE', 'AUTH_FAILED', 'AUTH_LOGIN_DISABLED', 'IMAP_PROTOCOL'] as const;
export type DiagnoseCatalogCode = (typeof CATALOG_CODES)[number];

export type DiagnoseCode = DiagnoseOnlyCode | DiagnoseCatalogCode;

/** Diagnose-specific remediation for catalog codes (the catalog's own texts name migrate's flags). */
const REMEDIATION_OVERRIDES: Partial<Record<DiagnoseCatalogCode, string>> = {
  TLS_UNTRUSTED: 'Install a certificate from a public CA on the server, or pass the CA that signed it with --ca FILE. Certificate validation is never turned off.',
  AUTH_LOGIN_DISABLED: 'Use --security ssl (port 993) or --security starttls (port 143): the server only accepts passwords over an encrypted connection. The password was not sent.',
  TLS_HANDSHAKE: 'The server rejected the TLS negotiation. Check the server\'s TLS configuration and its logs; compare with `openssl s_client -connect {host}:{port}`. If the connection was reset, a firewall or NAT device may be cutting it.',
};

function fill(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

export function specFor(code: DiagnoseCode): ErrorSpec {
  if (code in DIAGNOSE_CODES) return DIAGNOSE_CODES[code as DiagnoseOnlyCode];
  return ERROR_CATALOG[code as DiagnoseCatalogCode];
}

export interface DiagnoseVerdict {
  /** Stable code: a catalog code, or one of DIAGNOSE_CODES, or DIAGNOSE_OK. */
  code: DiagnoseCode | 'DIAGNOSE_OK';
  message: string;
  remediation: string;
}

/**
 * Builds a verdict from the table. `extraRemediation` appends what this particular run found out
 * (e.g. "nothing answered after the TCP connection was accepted") to the stable text.
 */
export function verdict(code: DiagnoseCode, params: ErrorParams, extraRemediation?: string): DiagnoseVerdict {
  const spec = specFor(code);
  const remediation = REMEDIATION_OVERRIDES[code as DiagnoseCatalogCode] ?? spec.remediation;
  const filled = fill(remediation, params);
  return {
    code,
    message: fill(spec.message, params),
    remediation: extraRemediation ? `${filled} ${extraRemediation}` : filled,
  };
}

/** Exit code of a verdict: the failing layer, aligned with EXIT_CODES (3 connection, 4 TLS, 5 login). */
export function exitCodeForVerdict(v: DiagnoseVerdict): number {
  if (v.code === 'DIAGNOSE_OK') return EXIT_CODES.success;
  switch (specFor(v.code).class) {
    case 'connection': return EXIT_CODES.connection;
    case 'tls': return EXIT_CODES.tls;
    case 'auth': return EXIT_CODES.auth;
    case 'usage': return EXIT_CODES.usage;
    // An IMAP server that answers nonsense is a connection-layer problem for an admin: wrong port/service.
    case 'protocol': return EXIT_CODES.connection;
    default: return EXIT_CODES.internal;
  }
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
