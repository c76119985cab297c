/**
 * Translation of whatever an IMAP connection can throw — Node socket/DNS/TLS errors, imapflow's
 * errors (which carry `code`, `responseText`, `serverResponseCode`, `authenticationFailed`,
 * `tlsFailed`, `reason`), and the raw append writer's server failures — into the one error catalog.
 *
 * Pure: no I/O, so the whole table is unit-tested (test/imap-classify-error.test.ts).
 * Order matters: a single failure often matches several rules (Dovecot answers a cleartext LOGIN
 * with `NO [PRIVACYREQUIRED] Plaintext authentication disallowed`, which imapflow also marks
 * `authenticationFailed`), so the more specific rule comes first.
 */
import { MailshiftError, type ErrorCode, type ErrorParams } from '../domain/errors.js';

export type Side = 'source' | 'target';

export interface ErrorContext {
  host: string;
  port: number;
  user: string;
  side: Side;
  /** The timeout that applied, to report how long we waited when the error does not say. */
  timeoutMs?: number;
  /** Strings that must never reach an error message (the password). */
  secrets?: readonly string[];
  /** Folder the failing command was about, when there is one. */
  folder?: string;
}

/** The fields we read from an error-like value; everything optional because sources differ. */
interface ErrorFacts {
  codes: string[];
  texts: string[];
  responseCode: string | null;
  responseStatus: string | null;
  authenticationFailed: boolean;
  tlsFailed: boolean;
  throttleResetMs: number | null;
  timeoutMs: number | null;
}

const TLS_UNTRUSTED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE', 'INVALID_CA',
]);
const TLS_EXPIRED_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const REFUSED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT', 'ETIMEDOUT']);
const LOST_CODES = new Set([
  'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'NoConnection', 'EConnectionClosed', 'StateLogout',
  'ClosedAfterConnectText', 'ClosedAfterConnectTLS', 'ERR_STREAM_DESTROYED', 'ERR_SOCKET_CLOSED',
]);

/** 15000 → "00:00:15", the seeds' CONN_TIMEOUT wording. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return [h, m, s].map((n) => String(n).padStart(2, '0')).join(':');
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function collectFacts(err: unknown): ErrorFacts {
  const facts: ErrorFacts = {
    codes: [], texts: [], responseCode: null, responseStatus: null,
    authenticationFailed: false, tlsFailed: false, throttleResetMs: null, timeoutMs: null,
  };
  // imapflow wraps the socket error in `_err`; Node uses `cause`; keep walking, but bounded.
  const seen = new Set<unknown>();
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null && !seen.has(current); depth++) {
    seen.add(current);
    if (typeof current === 'string') {
      facts.texts.push(current);
      break;
    }
    const rec = asRecord(current);
    if (!rec) break;
    const code = str(rec.code);
    if (code) facts.codes.push(code);
    // `responseText` and BYE `reason` carry the server's words; `message` is often imapflow's
    // generic "Command failed", so it goes last.
    for (const key of ['responseText', 'reason', 'response', 'message'] as const) {
      const text = str(rec[key]);
      if (text) facts.texts.push(text);
    }
    const responseCode = str(rec.serverResponseCode);
    if (responseCode && !facts.responseCode) facts.responseCode = responseCode.toUpperCase();
    const status = str(rec.responseStatus);
    if (status && !facts.responseStatus) facts.responseStatus = status.toUpperCase();
    if (rec.authenticationFailed === true) facts.authenticationFailed = true;
    if (rec.tlsFailed === true) facts.tlsFailed = true;
    if (typeof rec.throttleReset === 'number' && facts.throttleResetMs === null) facts.throttleResetMs = rec.throttleReset;
    const details = asRecord(rec.details);
    if (details && facts.timeoutMs === null) {
      for (const key of ['connectionTimeout', 'greetingTimeout', 'socketTimeout']) {
        if (typeof details[key] === 'number') {
          facts.timeoutMs = details[key] as number;
          break;
        }
      }
    }
    current = rec._err ?? rec.cause;
  }
  // A response code in brackets in the text ("NO [OVERQUOTA] ...") when the error object lost it.
  if (!facts.responseCode) {
    for (const text of facts.texts) {
      const m = /\[([A-Z][A-Z0-9-]*)/.exec(text);
      if (m?.[1] && m[1] !== 'ALERT') {
        facts.responseCode = m[1];
        break;
      }
    }
  }
  return facts;
}

/** Server text for the user: the first non-generic text, without secrets, on one line. */
function detailOf(facts: ErrorFacts, secrets: readonly string[]): string {
  const generic = /^(Command failed|Connection not available)$/i;
  const text = facts.texts.find((t) => !generic.test(t.trim())) ?? facts.texts[0] ?? facts.codes[0] ?? 'unknown error';
  return scrub(text, secrets);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text.replace(/[\r\n]+/g, ' ').trim();
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  return out.length > 500 ? `${out.slice(0, 500)}…` : out;
}

/** Microsoft 365: "Request is throttled. Suggested Backoff Time: 12345 milliseconds". */
function parseBackoffMs(texts: readonly string[]): number | null {
  for (const text of texts) {
    const m = /Backoff\s*Time[:=\s]+(\d+)\s*(milliseconds|ms|seconds|s)?/i.exec(text);
    if (m?.[1]) {
      const n = Number(m[1]);
      return /^s/i.test(m[2] ?? '') && !/^ms$/i.test(m[2] ?? '') ? n * 1000 : n;
    }
    const retry = /retry\s+(?:after|in)\s+(\d+)\s*(seconds|s|milliseconds|ms)\b/i.exec(text);
    if (retry?.[1]) return /^(ms|milliseconds)$/i.test(retry[2] ?? '') ? Number(retry[1]) : Number(retry[1]) * 1000;
  }
  return null;
}

const THROTTLE_TEXT = /Request is throttled|\[THROTTLED\]|Too many simultaneous connections|rate limit|\bthrottl/i;
const LIMIT_TEXT = /\[LIMIT\]|Maximum number of connections|Too many connections|mail_max_userip_connections|connection limit/i;
// "Login is disabled" is imapflow's own text when the server advertises LOGINDISABLED.
const LOGIN_DISABLED_TEXT = /LOGINDISABLED|Login is disabled|Plaintext authentication (disallowed|not allowed)|\[PRIVACYREQUIRED\]|cleartext.*(disallowed|not allowed)/i;
const AUTH_FAILED_TEXT = /\[AUTHENTICATIONFAILED\]|\[AUTHORIZATIONFAILED\]|Authentication failed|Invalid credentials|LOGIN failed|AUTHENTICATE failed/i;
const OVERQUOTA_TEXT = /\[OVERQUOTA\]|Quota exceeded|over quota|mailbox is full/i;
const TLS_TEXT = /SSL routines|wrong version number|handshake|TLS|tlsv1 alert|certificate|STARTTLS/i;
const BYE_TEXT = /\bBYE\b|Server shutting down|Disconnected|connection (?:was )?(?:closed|reset)|socket hang up|Connection not available/i;

export interface Classification {
  code: ErrorCode;
  params: ErrorParams;
  retryAfterMs?: number;
}

/** The table itself, separated from MailshiftError construction so tests can read it plainly. */
export function classify(err: unknown, ctx: ErrorContext): Classification {
  const facts = collectFacts(err);
  const secrets = ctx.secrets ?? [];
  const base: ErrorParams = { host: ctx.host, port: ctx.port, user: ctx.user, side: ctx.side };
  if (ctx.folder !== undefined) base.folder = ctx.folder;
  const detail = detailOf(facts, secrets);
  const has = (set: ReadonlySet<string>): boolean => facts.codes.some((c) => set.has(c));
  const textMatches = (re: RegExp): boolean => facts.texts.some((t) => re.test(t));
  const rc = facts.responseCode;
  const withCode = (params: ErrorParams): ErrorParams => (rc ? { ...params, responseCode: rc } : params);

  // Certificate verdicts first: they arrive as socket errors and must not be mistaken for resets.
  if (has(TLS_UNTRUSTED_CODES)) return { code: 'TLS_UNTRUSTED', params: { ...base, detail } };
  if (facts.codes.includes('ERR_TLS_CERT_ALTNAME_INVALID')) return { code: 'TLS_NAME_MISMATCH', params: { ...base, detail } };
  if (has(TLS_EXPIRED_CODES)) return { code: 'TLS_EXPIRED', params: { ...base, detail } };

  if (has(DNS_CODES)) return { code: 'CONN_DNS', params: { ...base, detail } };
  if (has(REFUSED_CODES)) return { code: 'CONN_REFUSED', params: { ...base, detail } };
  if (has(TIMEOUT_CODES)) {
    const waited = facts.timeoutMs ?? ctx.timeoutMs ?? 15_000;
    return { code: 'CONN_TIMEOUT', params: { ...base, elapsed: formatElapsed(waited), detail } };
  }

  // Throttling before connection limits: Gmail's "Too many simultaneous connections" is a
  // temporary per-account rate decision, not a configured limit the admin can raise.
  if (facts.codes.includes('ETHROTTLE') || rc === 'THROTTLED' || textMatches(THROTTLE_TEXT)) {
    const retryAfterMs = facts.throttleResetMs ?? parseBackoffMs(facts.texts);
    const params = withCode({ ...base, detail });
    return retryAfterMs === null ? { code: 'CONN_THROTTLED', params } : { code: 'CONN_THROTTLED', params, retryAfterMs };
  }
  if (rc === 'LIMIT' || textMatches(LIMIT_TEXT)) return { code: 'CONN_TOO_MANY', params: withCode({ ...base, detail }) };

  if (rc === 'PRIVACYREQUIRED' || textMatches(LOGIN_DISABLED_TEXT)) {
    return { code: 'AUTH_LOGIN_DISABLED', params: withCode({ ...base, detail }) };
  }
  if (facts.authenticationFailed || rc === 'AUTHENTICATIONFAILED' || rc === 'AUTHORIZATIONFAILED' || textMatches(AUTH_FAILED_TEXT)) {
    return { code: 'AUTH_FAILED', params: withCode({ ...base, detail }) };
  }
  if (rc === 'OVERQUOTA' || textMatches(OVERQUOTA_TEXT)) return { code: 'TARGET_OVERQUOTA', params: withCode({ ...base, detail }) };

  // Any other TLS failure: OpenSSL reason codes (ERR_SSL_*), imapflow's tlsFailed (incl. a required
  // STARTTLS the server does not offer), or a reset during the handshake.
  if (facts.tlsFailed || facts.codes.some((c) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_')) || facts.codes.includes('STARTTLS_INJECTION')) {
    return { code: 'TLS_HANDSHAKE', params: { ...base, detail } };
  }

  // Untagged BYE: imapflow turns it into NoConnection with the text in `reason` and drops the
  // code, which is why LIMIT/THROTTLED above are matched on text too.
  if (has(LOST_CODES) || facts.responseStatus === 'BYE' || textMatches(BYE_TEXT)) {
    return { code: 'CONN_LOST', params: withCode({ ...base, detail }) };
  }
  if (facts.codes.length === 0 && facts.responseStatus === null && textMatches(TLS_TEXT) && /ssl|tls|handshake/i.test(detail)) {
    return { code: 'TLS_HANDSHAKE', params: { ...base, detail } };
  }
  return { code: 'IMAP_PROTOCOL', params: withCode({ ...base, detail }) };
}

/** Classify and construct; a MailshiftError passes through unchanged. */
export function classifyError(err: unknown, ctx: ErrorContext): MailshiftError {
  if (err instanceof MailshiftError) return err;
  const { code, params, retryAfterMs } = classify(err, ctx);
  return new MailshiftError(code, params, retryAfterMs === undefined ? { cause: err } : { cause: err, retryAfterMs });
}
