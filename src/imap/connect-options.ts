/**
 * ConnectionSettings → options for imapflow and for the raw append connection. Both sides of a
 * migration and both kinds of connection must negotiate TLS identically, so the TLS part is built
 * once here (`tlsOptionsFor`) and shared.
 */
import { createSecureContext, rootCertificates, type ConnectionOptions as TlsConnectionOptions, type SecureContext } from 'node:tls';
import type { ImapFlowOptions } from 'imapflow';
import type { ConnectionSettings } from '../domain/mail-types.js';
import type { MailshiftError } from '../domain/errors.js';

/** The seeds' connection and greeting timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

/**
 * A batch copier can sit silently for minutes between commands while the other side is slow
 * (a large APPEND, a throttled source), so the inactivity watchdog must be far longer than
 * any single round trip; 10 minutes mirrors Dovecot's own 30-minute autologout with margin.
 */
export const SOCKET_TIMEOUT_MS = 10 * 60_000;

export function connectTimeoutOf(settings: ConnectionSettings): number {
  return settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
}

/**
 * Options handed to `tls.connect` (implicit TLS) and `tls.connect({ socket })` (STARTTLS).
 * `ca` is added to — not a replacement of — the system store, because endpoints with a private CA
 * often also chain to public intermediates on another host of the same batch. The system store is
 * only loaded when needed, though (parsing its ~140 certificates takes ~45 ms, a quarter of the
 * CLI's start-up before the first connection): a connection first verifies against `ca` alone,
 * and one that fails verification is opened again with both (`retryWithSystemStore`). What
 * verifies against `ca` alone verifies against both, so the outcome is the same as always using both.
 */
export function tlsOptionsFor(settings: ConnectionSettings): TlsConnectionOptions {
  const tls: TlsConnectionOptions = {
    rejectUnauthorized: settings.acceptUntrustedCertificates !== true,
  };
  if (settings.ca) {
    // A migration opens several connections per mailbox: the context is built once per distinct
    // setting and shared.
    tls.secureContext = sharedSecureContext(settings);
  } else {
    if (settings.minTlsVersion) tls.minVersion = settings.minTlsVersion;
    if (settings.ciphers) tls.ciphers = settings.ciphers;
  }
  // SNI must not carry an IP literal (RFC 6066 §3); Node warns and some servers reset on it.
  const servername = settings.servername ?? (isIpLiteral(settings.host) ? undefined : settings.host);
  if (servername) tls.servername = servername;
  return tls;
}

const contexts = new Map<string, SecureContext>();
/** Settings whose servers did not verify against their `ca` alone: their contexts add the system store. */
const withSystemStore = new Set<string>();

function contextKey(settings: ConnectionSettings): string {
  return `${settings.minTlsVersion ?? ''}\0${settings.ciphers ?? ''}\0${settings.ca ?? ''}`;
}

function sharedSecureContext(settings: ConnectionSettings): SecureContext {
  const { ca, minTlsVersion: minVersion, ciphers } = settings;
  const system = trustsSystemStore(settings);
  const key = `${system}\0${contextKey(settings)}`;
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca: system ? [...systemStore.certificates(), ca!] : [ca!], ...(minVersion ? { minVersion } : {}), ...(ciphers ? { ciphers } : {}) });
    contexts.set(key, context);
  }
  return context;
}

/**
 * Whether a connection opened now with these settings verifies against the system store too
 * (always, unless a `ca` of its own has not yet needed it). Read before opening, for
 * retryWithSystemStore.
 */
export function trustsSystemStore(settings: ConnectionSettings): boolean {
  return !settings.ca || withSystemStore.has(contextKey(settings));
}

/**
 * Called with the error of a connection that could not be opened, and whether it was opened with
 * the system store (trustsSystemStore before it): true when it failed certificate verification
 * against `ca` alone. From then on `tlsOptionsFor(settings)` adds the system store, and the caller
 * opens the connection again, once. Connections opened at the same time each decide for themselves.
 */
export function retryWithSystemStore(settings: ConnectionSettings, err: MailshiftError, openedWithSystemStore: boolean): boolean {
  if (openedWithSystemStore || (err.code !== 'TLS_UNTRUSTED' && err.code !== 'TLS_EXPIRED')) return false;
  withSystemStore.add(contextKey(settings));
  return true;
}

/**
 * The system store: Node's bundled roots (passing `ca` to Node replaces them, so they are added
 * back). Replaceable only so that tests can stand in a CA of their own for a public one.
 */
export const systemStore = { certificates: (): readonly string[] => rootCertificates };

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/**
 * imapflow options for one single-use connection (imapflow instances cannot reconnect; the engine
 * opens a new store after a failure).
 */
export function imapFlowOptionsFor(settings: ConnectionSettings): ImapFlowOptions {
  const timeout = connectTimeoutOf(settings);
  const options: ImapFlowOptions = {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'ssl',
    auth: {
      user: settings.user,
      pass: settings.password,
      // imapflow only sends an authzid through AUTHENTICATE PLAIN (RFC 4616 §2), so force it:
      // LOGIN has no way to carry one and would log the admin into its own mailbox.
      ...(settings.authzid
        ? { authzid: settings.authzid, loginMethod: 'AUTH=PLAIN' }
        : settings.loginMethod ? { loginMethod: settings.loginMethod === 'plain' ? 'AUTH=PLAIN' : 'LOGIN' } : {}),
    },
    tls: tlsOptionsFor(settings),
    // imapflow's default pino logger prints command lines; LOGIN carries the password in clear.
    logger: false,
    // A batch copier issues commands back to back: an auto-IDLE after every pause would cost two
    // extra round trips to break, and the engine never waits for server push.
    disableAutoIdle: true,
    // COMPRESS=DEFLATE only when asked for (ConnectionSettings.compress): it costs CPU on both ends,
    // and loopback and LAN migrations are latency-bound, not bandwidth-bound.
    disableCompression: settings.compress !== true,
    // BINARY fetches return decoded parts; we need the exact RFC 822 bytes.
    disableBinary: true,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: SOCKET_TIMEOUT_MS,
    clientInfo: { name: 'mailshift' },
  };
  if (settings.servername) options.servername = settings.servername;
  // 'starttls' means required: a stripped STARTTLS capability (a downgrade attack, RFC 3501 §6.2.1)
  // must fail the connection instead of sending the password in clear. 'none' never upgrades.
  if (settings.security === 'starttls') options.doSTARTTLS = true;
  if (settings.security === 'none') options.doSTARTTLS = false;
  return options;
}

/** The settings with the password removed, for logs and diagnostics. */
export function redactSettings(settings: ConnectionSettings): Omit<ConnectionSettings, 'password'> & { password: '***' } {
  return { ...settings, password: '***' };
}
