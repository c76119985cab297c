/**
 * The admin token of the API. MAILSHIFT_ADMIN_TOKEN when set; otherwise a random token created on
 * the first start, printed once by `mailshift serve`, of which only the SHA-256 is kept — in
 * `admin-token.sha256` (mode 0600) next to the state database. Presented tokens are hashed and
 * compared in constant time. Short-lived tickets let EventSource (which cannot send headers)
 * authenticate /api/events without putting the token itself in a URL.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MailshiftError } from '../domain/errors.js';

export const TOKEN_FILE_NAME = 'admin-token.sha256';
export const MIN_TOKEN_LENGTH = 16;
export const TICKET_TTL_MS = 5 * 60_000;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface AdminAuth {
  /** Where the token comes from: 'MAILSHIFT_ADMIN_TOKEN' or the token file's path. */
  readonly source: string;
  /** Constant-time check of a presented token. */
  verify(token: string | undefined | null): boolean;
  /** A ticket for /api/events, valid TICKET_TTL_MS for any number of connections. */
  issueTicket(now?: number): { ticket: string; expiresAt: number };
  verifyTicket(ticket: string | undefined | null, now?: number): boolean;
}

/** An AdminAuth over a SHA-256 hex digest of the token. */
export function adminAuthFromHash(hashHex: string, source: string): AdminAuth {
  const expected = Buffer.from(hashHex, 'hex');
  if (expected.length !== 32) throw new MailshiftError('API_ADMIN_TOKEN_INVALID', { source, detail: 'the stored hash is not a SHA-256 digest' });
  const tickets = new Map<string, number>();
  const prune = (now: number): void => {
    for (const [hash, until] of tickets) if (until <= now) tickets.delete(hash);
  };
  return {
    source,
    verify(token) {
      if (typeof token !== 'string' || token.length === 0) return false;
      return timingSafeEqual(createHash('sha256').update(token, 'utf8').digest(), expected);
    },
    issueTicket(now = Date.now()) {
      prune(now);
      const ticket = randomBytes(24).toString('base64url');
      const expiresAt = now + TICKET_TTL_MS;
      tickets.set(sha256Hex(ticket), expiresAt);
      return { ticket, expiresAt };
    },
    verifyTicket(ticket, now = Date.now()) {
      if (typeof ticket !== 'string' || ticket.length === 0) return false;
      prune(now);
      // Looked up by hash: the map's key comparison does not depend on how much of a guess matches.
      const until = tickets.get(sha256Hex(ticket));
      return until !== undefined && until > now;
    },
  };
}

export function adminAuthFromToken(token: string, source = 'MAILSHIFT_ADMIN_TOKEN'): AdminAuth {
  return adminAuthFromHash(sha256Hex(token), source);
}

export function tokenFilePath(statePath: string): string {
  return join(dirname(statePath), TOKEN_FILE_NAME);
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes the hash of a new token with mode 0600 (private temp file, then renamed into place by link). */
function writeTokenHash(path: string, hash: string, replace: boolean): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${hash}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  try {
    if (replace && existsSync(path)) unlinkSync(path);
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

export interface ResolvedAdminAuth {
  auth: AdminAuth;
  /** The token in clear, only when it was just created: print it once. */
  createdToken: string | null;
}

/**
 * The token for a service on `statePath`: MAILSHIFT_ADMIN_TOKEN, or the hash file next to the
 * state database (created with a new token on first use, or replaced with `renew`).
 */
export function resolveAdminAuth(options: { statePath: string; env?: NodeJS.ProcessEnv; renew?: boolean }): ResolvedAdminAuth {
  const env = options.env ?? process.env;
  const fromEnv = env.MAILSHIFT_ADMIN_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.trim().length < MIN_TOKEN_LENGTH) {
      throw new MailshiftError('API_ADMIN_TOKEN_INVALID', { source: 'MAILSHIFT_ADMIN_TOKEN', detail: `it is shorter than ${MIN_TOKEN_LENGTH} characters` });
    }
    return { auth: adminAuthFromToken(fromEnv.trim()), createdToken: null };
  }
  const path = tokenFilePath(options.statePath);
  if (!options.renew && existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new MailshiftError('API_ADMIN_TOKEN_INVALID', { source: path, detail: `the file may be read by other users (mode ${mode.toString(8).padStart(4, '0')})` });
    }
    const hash = readFileSync(path, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new MailshiftError('API_ADMIN_TOKEN_INVALID', { source: path, detail: 'the file does not hold a SHA-256 digest' });
    return { auth: adminAuthFromHash(hash, path), createdToken: null };
  }
  const token = generateToken();
  if (!writeTokenHash(path, sha256Hex(token), options.renew === true)) {
    // Another process created it first: use theirs (its token was printed there).
    return resolveAdminAuth({ ...options, renew: false });
  }
  return { auth: adminAuthFromHash(sha256Hex(token), path), createdToken: token };
}
