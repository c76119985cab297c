/**
 * Raw connection building blocks for diagnose: TCP connect with a hard timeout, TLS handshakes with
 * explicit options, and the STARTTLS preamble. Each diagnostic handshake (version sweep, certificate
 * description) opens a fresh connection, so they share these helpers.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ImapWire, type ImapLine, WireError } from './imap-wire.ts';

export class PhaseTimeout extends Error {
  constructor(readonly phase: string, readonly timeoutMs: number) {
    super(`${phase} timed out after ${timeoutMs} ms`);
    this.name = 'PhaseTimeout';
  }
}

/** Connects to one address; rejects with the socket error (code ECONNREFUSED…) or PhaseTimeout. */
export function connectTcp(address: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      socket.off('error', onError);
      socket.on('error', () => undefined);
      socket.destroy();
      reject(new PhaseTimeout('tcp connect', timeoutMs));
    }, timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Later errors are seen by whoever reads the socket next; never let one crash the process.
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/**
 * TLS handshake over an existing socket. Resolves once the session is established AND verified
 * (or verification is deliberately off for a describe-only handshake); rejects with Node's error,
 * whose `code` carries OpenSSL's reason (ERR_SSL_…, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID…).
 */
export function tlsHandshake(socket: net.Socket, options: tls.ConnectionOptions, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ ...options, socket });
    secure.on('error', () => undefined);
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      secure.off('error', onError);
      secure.off('close', onClose);
      secure.off('secureConnect', onSecure);
      if (err) {
        secure.destroy();
        socket.destroy();
        reject(err);
      } else {
        resolve(secure);
      }
    };
    const onError = (err: Error): void => finish(err);
    // A peer that closes during the handshake without an alert: report it as a reset.
    const onClose = (): void => {
      const err: NodeJS.ErrnoException = new Error('the server closed the connection during the TLS handshake');
      err.code = 'ECONNRESET';
      finish(err);
    };
    const onSecure = (): void => finish(null);
    const timer = setTimeout(() => finish(new PhaseTimeout('tls handshake', timeoutMs)), timeoutMs);
    secure.once('error', onError);
    secure.once('close', onClose);
    secure.once('secureConnect', onSecure);
  });
}

export interface StartTlsPreamble {
  wire: ImapWire;
  greeting: ImapLine;
  /** Capabilities before TLS (from the greeting code or a CAPABILITY command). */
  capabilities: string[];
}

export class StartTlsRefused extends Error {
  constructor(readonly reason: 'not-offered' | 'refused', readonly serverText: string) {
    super(reason === 'not-offered' ? 'the server does not advertise STARTTLS' : `STARTTLS refused: ${serverText}`);
    this.name = 'StartTlsRefused';
  }
}

export function capabilitiesFrom(lines: ImapLine[], greeting?: ImapLine): string[] {
  for (const line of lines) {
    if (line.kind === 'CAPABILITY') return line.raw.split(' ').slice(2);
    if (line.code?.toUpperCase().startsWith('CAPABILITY ')) return line.code.split(' ').slice(1);
  }
  if (greeting?.code?.toUpperCase().startsWith('CAPABILITY ')) return greeting.code.split(' ').slice(1);
  return [];
}

/**
 * Plain-text part of a STARTTLS connection: greeting, capabilities, STARTTLS. Leaves the socket
 * detached and ready for tls.connect. Throws WireError (timeout/closed) or StartTlsRefused.
 */
export async function startTlsPreamble(socket: net.Socket, timeoutMs: number): Promise<StartTlsPreamble> {
  const wire = new ImapWire(socket, timeoutMs);
  const greeting = await wire.readGreeting();
  let capabilities = capabilitiesFrom([], greeting);
  if (capabilities.length === 0) {
    const res = await wire.command(['CAPABILITY']);
    capabilities = capabilitiesFrom(res.untagged);
  }
  if (!capabilities.some((c) => c.toUpperCase() === 'STARTTLS')) {
    throw new StartTlsRefused('not-offered', greeting.text);
  }
  const res = await wire.command(['STARTTLS']);
  if (res.tagged.kind !== 'OK') throw new StartTlsRefused('refused', res.tagged.text);
  if (wire.pendingBytes > 0) {
    // Data after the OK and before the handshake would be plaintext injected into the TLS session.
    throw new WireError('error', 'the server sent data after the STARTTLS OK (possible STARTTLS injection)');
  }
  wire.detach();
  return { wire, greeting, capabilities };
}

/** Is this string an IP literal (SNI must not be set for those, RFC 6066 §3)? */
export function isIpLiteral(host: string): boolean {
  return net.isIP(host) !== 0;
}
