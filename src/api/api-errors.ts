/**
 * Errors → HTTP. Every error leaves the API as `{code, message, remediation}` (plus route-specific
 * fields such as `errors` or `test`) with a status derived from the catalog: the code decides where
 * it is specific (not found, conflict), else the error class. Mail-server sign-in failures (`AUTH_*`)
 * are 502, never 401: a 401 means the admin token, and nothing else.
 */
import { MailshiftError, isMailshiftError } from '../domain/errors.js';
import type { ErrorCode } from '../domain/errors.js';
import { EndpointTestFailed } from '../app/endpoint-service.js';
import { toTestResultJson } from './views.js';

export interface ApiErrorBody {
  code: string;
  message: string;
  remediation: string;
  [extra: string]: unknown;
}

const CONFLICT_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'ENDPOINT_EXISTS', 'ENDPOINT_IN_USE', 'BATCH_EXISTS', 'BATCH_ILLEGAL_TRANSITION', 'BATCH_USER_EXISTS', 'STATE_LOCKED',
]);
const NOT_FOUND_CODES: ReadonlySet<string> = new Set<ErrorCode>(['API_NOT_FOUND', 'ENDPOINT_NOT_FOUND', 'BATCH_NOT_FOUND', 'BATCH_USER_NOT_FOUND']);
const SERVER_CODES: ReadonlySet<string> = new Set<ErrorCode>(['SECRET_KEY_INVALID', 'SECRET_KEY_FILE_INSECURE', 'SECRET_KEY_MISMATCH', 'NOTIFY_SMTP_CONFIG', 'API_ADMIN_TOKEN_INVALID']);

/** The HTTP status of a catalog error. */
export function httpStatusFor(err: MailshiftError): number {
  if (err instanceof EndpointTestFailed) return 422;
  const code = err.code;
  if (code === 'API_UNAUTHORIZED') return 401;
  if (code === 'API_PAYLOAD_TOO_LARGE') return 413;
  if (NOT_FOUND_CODES.has(code)) return 404;
  if (CONFLICT_CODES.has(code)) return 409;
  if (SERVER_CODES.has(code)) return 500;
  switch (err.spec.class) {
    case 'usage': return 400;
    case 'connection': case 'tls': case 'auth': case 'quota': case 'protocol': return 502;
    default: return 500;
  }
}

/** Status and body of any thrown value; unknown errors become INTERNAL without their stack. */
export function errorResponse(err: unknown): { status: number; body: ApiErrorBody } {
  if (isMailshiftError(err)) {
    const body: ApiErrorBody = { code: err.code, message: err.message, remediation: err.remediation };
    if (err instanceof EndpointTestFailed) {
      body.code = err.result.verdict.code;
      body.test = toTestResultJson(err.result);
    }
    return { status: httpStatusFor(err), body };
  }
  // The text of an unexpected error is logged, not returned: it could quote anything (a server's reply).
  const e = new MailshiftError('INTERNAL', { detail: 'see the service log for details' });
  return { status: 500, body: { code: e.code, message: e.message, remediation: e.remediation } };
}

export function apiError(code: ErrorCode, params: Record<string, string | number> = {}): MailshiftError {
  return new MailshiftError(code, params);
}
