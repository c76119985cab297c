/**
 * SMTP settings for the notification e-mail, from the environment:
 *
 *   MAILSHIFT_SMTP_URL       smtp://user@host:587 (STARTTLS, required) | smtps://user@host:465 (TLS)
 *                            | smtp://host:25?starttls=off (plain, only without a user: no password in clear)
 *   MAILSHIFT_SMTP_PASSWORD  the password of the URL's user (never in the URL itself)
 *   MAILSHIFT_SMTP_FROM      the sender, `addr@example.com` or `Name <addr@example.com>`
 *                            (default: the URL's user, when it is an address)
 *   MAILSHIFT_SMTP_CA        a PEM file of CA certificates to trust in addition to the system store
 *
 * Notifications are off when MAILSHIFT_SMTP_URL is unset. The password is kept off every printable
 * form of the config: it is a non-enumerable property, so JSON.stringify and console.log omit it.
 */
import { readFileSync } from 'node:fs';
import { MailshiftError } from '../domain/errors.js';

export interface SmtpConfig {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (smtps://, usually port 465). */
  secure: boolean;
  /** Require STARTTLS before anything else (smtp://, the default); the mail is not sent without it. */
  startTls: boolean;
  user: string | null;
  password: string | null;
  from: string;
  caPem: string | null;
}

export const SMTP_ENV = {
  url: 'MAILSHIFT_SMTP_URL',
  password: 'MAILSHIFT_SMTP_PASSWORD',
  from: 'MAILSHIFT_SMTP_FROM',
  ca: 'MAILSHIFT_SMTP_CA',
} as const;

function invalid(variable: string, detail: string): MailshiftError {
  return new MailshiftError('NOTIFY_SMTP_CONFIG', { variable, detail });
}

const ADDRESS = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$|^[^\s@<>",;]+@localhost$/i;

/** Accepts `addr@example.com` or `Display Name <addr@example.com>`. */
export function isValidFromAddress(value: string): boolean {
  const m = /^(?:[^<>\r\n]*<([^<>\r\n]+)>|([^<>\r\n]+))$/.exec(value.trim());
  const addr = (m?.[1] ?? m?.[2] ?? '').trim();
  return ADDRESS.test(addr);
}

/** The host (and port) of the URL, safe to print: never the user info. */
function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

export function smtpConfigFromEnv(env: NodeJS.ProcessEnv): SmtpConfig | null {
  const raw = env[SMTP_ENV.url]?.trim();
  if (!raw) return null;

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(SMTP_ENV.url, 'it is not a URL; expected e.g. smtp://user@mail.example.com:587 or smtps://user@mail.example.com:465');
  }
  if (url.password) {
    throw invalid(SMTP_ENV.url, 'it contains a password; put the password in MAILSHIFT_SMTP_PASSWORD instead, so it never shows in process lists or logs');
  }
  let secure: boolean;
  if (url.protocol === 'smtps:') secure = true;
  else if (url.protocol === 'smtp:') secure = false;
  else throw invalid(SMTP_ENV.url, `the scheme "${url.protocol.replace(/:$/, '')}" is not supported; use smtp:// (STARTTLS) or smtps:// (TLS)`);

  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid(SMTP_ENV.url, `${describeUrl(url)} has no host name`);
  if (url.pathname !== '' && url.pathname !== '/') throw invalid(SMTP_ENV.url, `${describeUrl(url)} has a path ("${url.pathname}"); an SMTP URL is just scheme, user, host and port`);
  const port = url.port ? Number(url.port) : secure ? 465 : 587;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(SMTP_ENV.url, `the port ${url.port} is not between 1 and 65535`);

  let startTls = !secure;
  for (const [key, value] of url.searchParams) {
    if (key === 'starttls' && !secure && ['off', 'no', 'false', '0'].includes(value.toLowerCase())) startTls = false;
    else if (key === 'starttls' && ['on', 'yes', 'true', '1', 'required'].includes(value.toLowerCase())) startTls = !secure;
    else throw invalid(SMTP_ENV.url, `the option "${key}=${value}" is not understood; the only option is starttls=off (plain SMTP without a user, e.g. a local relay)`);
  }

  let user: string | null = null;
  if (url.username) {
    try {
      user = decodeURIComponent(url.username);
    } catch {
      throw invalid(SMTP_ENV.url, 'the user name is not correctly percent-encoded (write @ in a user name as %40)');
    }
  }
  const passwordValue = env[SMTP_ENV.password];
  const password = passwordValue === undefined || passwordValue === '' ? null : passwordValue;
  if (user !== null && password === null) {
    throw invalid(SMTP_ENV.password, `it is not set, but ${SMTP_ENV.url} names the user ${user}`);
  }
  if (user === null && password !== null) {
    throw invalid(SMTP_ENV.url, `it names no user, but ${SMTP_ENV.password} is set; write the user before the host: smtp://user@host:587`);
  }
  if (user !== null && !secure && !startTls) {
    throw invalid(SMTP_ENV.url, 'starttls=off with a user would send the password unencrypted; use smtp:// (STARTTLS) or smtps://');
  }

  const fromValue = env[SMTP_ENV.from]?.trim();
  let from: string;
  if (fromValue) {
    if (!isValidFromAddress(fromValue)) throw invalid(SMTP_ENV.from, `"${fromValue}" is not an e-mail address; use addr@example.com or "Name <addr@example.com>"`);
    from = fromValue;
  } else if (user !== null && ADDRESS.test(user)) {
    from = user;
  } else {
    throw invalid(SMTP_ENV.from, 'it is not set, and the SMTP user is not an e-mail address to send from; set it to the sender address');
  }

  let caPem: string | null = null;
  const caPath = env[SMTP_ENV.ca]?.trim();
  if (caPath) {
    try {
      caPem = readFileSync(caPath, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new MailshiftError('USAGE_FILE_UNREADABLE', { path: caPath, reason });
    }
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw invalid(SMTP_ENV.ca, `the file ${caPath} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }

  const config: SmtpConfig = { host, port, secure, startTls, user, password: null, from, caPem };
  return withHiddenPassword(config, password);
}

/** Sets `password` as a non-enumerable property: readable by code, absent from JSON and inspect output. */
export function withHiddenPassword(config: SmtpConfig, password: string | null): SmtpConfig {
  Object.defineProperty(config, 'password', { value: password, enumerable: false, writable: true, configurable: true });
  return config;
}
