/**
 * Describing certificates and classifying TLS failures into the causes of seed 004 (legacy-only
 * protocol, interception, incomplete chain, no shared cipher) and the classic certificate problems
 * (expired, self-signed, untrusted, name mismatch). The classifier is pure: it takes the evidence
 * the probe gathered (OpenSSL's verdict on the real handshake, the chain as sent, a version sweep)
 * so every rule can be unit-tested without a server.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { verdict, type DiagnoseVerdict } from './diagnose-codes.ts';
import type { CertificateDescription, TlsVersionName } from './diagnose-types.ts';
import { TLS_VERSIONS } from './diagnose-types.ts';

function formatName(name: tls.Certificate | undefined | null): string {
  if (!name) return '';
  return Object.entries(name)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

/**
 * The chain as the server sent it, leaf first. Call on a socket whose secure context has an EMPTY
 * trust store (`ca: []`): Node then cannot append issuers from the local store, so what
 * getPeerCertificate(true) links together is exactly what was on the wire.
 */
export function describeChain(socket: tls.TLSSocket): CertificateDescription[] {
  const out: CertificateDescription[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(describeCertificate(cert));
    const next: tls.DetailedPeerCertificate | undefined = cert.issuerCertificate;
    cert = next && next.fingerprint256 !== cert.fingerprint256 ? next : undefined;
  }
  return out;
}

export function describeCertificate(cert: tls.PeerCertificate): CertificateDescription {
  const x509 = new X509Certificate(cert.raw);
  const selfSigned = x509.subject === x509.issuer && x509.checkIssued(x509) && x509.verify(x509.publicKey);
  return {
    subject: formatName(cert.subject),
    issuer: formatName(cert.issuer),
    subjectAltNames: (cert.subjectaltname ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    validFrom: new Date(cert.valid_from).toISOString(),
    validTo: new Date(cert.valid_to).toISOString(),
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    selfSigned,
    isCa: x509.ca,
  };
}

/** Does the leaf cover `host`? Uses Node's own check (SAN DNS/IP rules, wildcards). */
export function nameMatches(host: string, leaf: CertificateDescription): boolean {
  // checkServerIdentity wants the PeerCertificate shape; rebuild the two fields it reads.
  const cnMatch = /(?:^|, )CN=([^,]+)/.exec(leaf.subject);
  const fake = {
    subject: { CN: cnMatch?.[1] ?? '' },
    subjectaltname: leaf.subjectAltNames.join(', '),
  } as unknown as tls.PeerCertificate;
  return tls.checkServerIdentity(host, fake) === undefined;
}

const UNTRUSTED_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'DEPTH_ZERO_SELF_SIGNED_CERT',
]);
const VALIDITY_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
export const CERTIFICATE_ERROR_CODES = new Set([
  ...UNTRUSTED_CODES, ...VALIDITY_CODES, 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED', 'INVALID_CA', 'CERT_REVOKED', 'INVALID_PURPOSE', 'PATH_LENGTH_EXCEEDED',
]);

/** Names of TLS-inspection products as they appear in their CA certificates' issuer names. */
const INTERCEPTION_ISSUERS = /zscaler|fortinet|fortigate|palo ?alto|blue ?coat|sophos|netskope|forcepoint|websense|umbrella|check ?point|barracuda|watchguard|sonicwall|kaspersky|avast|\bavg\b|\beset\b|bitdefender|untangle|squid|proxy|inspection|mitm|decrypt/i;

export interface CertificateEvidence {
  host: string;
  /** Node's error code for the verifying handshake (e.g. UNABLE_TO_GET_ISSUER_CERT_LOCALLY). */
  errorCode: string;
  errorMessage: string;
  /** The chain as sent, from the describe-only handshake (empty if that failed too). */
  chain: CertificateDescription[];
  now: Date;
}

export interface Problem {
  code: string;
  detail: string;
}

/** Every certificate problem visible in the evidence, most decisive first. */
export function certificateProblems(e: CertificateEvidence): Problem[] {
  const problems: Problem[] = [];
  const leaf = e.chain[0];
  const untrusted = UNTRUSTED_CODES.has(e.errorCode);
  if (!leaf) return [{ code: 'TLS_HANDSHAKE', detail: e.errorMessage }];
  const mismatch = !nameMatches(e.host, leaf);
  const selfSigned = e.errorCode === 'DEPTH_ZERO_SELF_SIGNED_CERT' || (e.chain.length === 1 && leaf.selfSigned);
  if (selfSigned) problems.push({ code: 'TLS_SELF_SIGNED', detail: `self-signed certificate for ${leaf.subject}` });
  const issuerText = e.chain.map((c) => c.issuer).join(' / ');
  if (!selfSigned && untrusted && (mismatch || INTERCEPTION_ISSUERS.test(issuerText))) {
    problems.push({ code: 'TLS_INTERCEPTED', detail: `certificate for ${leaf.subject} issued by ${leaf.issuer}` });
  }
  for (const cert of e.chain) {
    if (new Date(cert.validTo) < e.now) problems.push({ code: 'TLS_EXPIRED', detail: `the certificate ${cert.subject} expired on ${cert.validTo}` });
    else if (new Date(cert.validFrom) > e.now) problems.push({ code: 'TLS_EXPIRED', detail: `the certificate ${cert.subject} is not valid before ${cert.validFrom}` });
  }
  if (VALIDITY_CODES.has(e.errorCode) && !problems.some((p) => p.code === 'TLS_EXPIRED')) {
    problems.push({ code: 'TLS_EXPIRED', detail: e.errorMessage });
  }
  const last = e.chain[e.chain.length - 1]!;
  // Leaf only, not self-signed, issuer not sent: seed 004's "one BEGIN CERTIFICATE block" case.
  // When the last cert sent is itself a CA, what is missing is a root, which servers need not send:
  // that is an untrusted (private) CA, not an incomplete chain.
  if (untrusted && !selfSigned && !last.selfSigned && !last.isCa) {
    problems.push({ code: 'TLS_INCOMPLETE_CHAIN', detail: `the issuer "${last.issuer}" of "${last.subject}" was not sent` });
  }
  if (untrusted && !selfSigned) problems.push({ code: 'TLS_UNTRUSTED', detail: `${e.errorMessage.replace(/\.$/, '')} (issuer: ${last.selfSigned ? last.subject : last.issuer})` });
  if (mismatch) problems.push({ code: 'TLS_NAME_MISMATCH', detail: `the certificate is for ${[leaf.subject, ...leaf.subjectAltNames].join(', ')}` });
  if (problems.length === 0) problems.push({ code: 'TLS_HANDSHAKE', detail: e.errorMessage });
  return problems;
}

export function classifyCertificateFailure(e: CertificateEvidence, port: number): { verdict: DiagnoseVerdict; problems: Problem[] } {
  const problems = certificateProblems(e);
  const first = problems[0]!;
  const leaf = e.chain[0];
  const last = e.chain[e.chain.length - 1];
  const params = {
    host: e.host,
    port,
    detail: first.detail,
    subject: leaf?.subject ?? '',
    issuer: leaf?.issuer ?? '',
    sent: e.chain.length,
    missingIssuer: last?.issuer ?? '',
  };
  const code = first.code as Parameters<typeof verdict>[0];
  const others = problems.slice(1).filter((p) => p.code !== first.code && p.code !== 'TLS_UNTRUSTED');
  const extra = others.length > 0 ? `Also found: ${others.map((p) => `${p.code} (${p.detail})`).join('; ')}.` : undefined;
  return { verdict: verdict(code, params, extra), problems };
}

export interface VersionProbe {
  version: TlsVersionName;
  ok: boolean;
  cipher?: string;
  error?: string;
}

export interface ProtocolEvidence {
  host: string;
  port: number;
  errorCode: string;
  errorMessage: string;
  /** The lowest version this client accepts (its --min-tls, or Node's default). */
  minimum: TlsVersionName;
  /** Diagnostic handshakes, one per version, with every cipher allowed (SECLEVEL=0). */
  sweep: VersionProbe[];
}

/** "TLSv1" → "TLS 1.0": how admins and server docs name versions. */
export function tlsLabel(v: TlsVersionName): string {
  return v === 'TLSv1' ? 'TLS 1.0' : v.replace('TLSv', 'TLS ');
}

/** Failures before any certificate was seen: protocol version, ciphers, resets. */
export function classifyProtocolFailure(e: ProtocolEvidence): DiagnoseVerdict {
  const supported = e.sweep.filter((p) => p.ok);
  const minIndex = TLS_VERSIONS.indexOf(e.minimum);
  const acceptable = supported.filter((p) => TLS_VERSIONS.indexOf(p.version) >= minIndex);
  if (supported.length > 0 && acceptable.length === 0) {
    const names = supported.map((p) => tlsLabel(p.version));
    return verdict('TLS_LEGACY_ONLY', {
      host: e.host, port: e.port, versions: names.join(' and '), minimum: tlsLabel(e.minimum), lowest: supported[0]!.version,
    });
  }
  if (acceptable.length > 0 && /cipher|handshake failure|HANDSHAKE_FAILURE|INSUFFICIENT_SECURITY/i.test(`${e.errorCode} ${e.errorMessage}`)) {
    const ciphers = [...new Set(acceptable.map((p) => p.cipher).filter(Boolean))].join(', ');
    return verdict('TLS_NO_SHARED_CIPHER', { host: e.host, port: e.port, ciphers: ciphers || 'unknown ciphers' });
  }
  return verdict('TLS_HANDSHAKE', { host: e.host, port: e.port, detail: `${e.errorMessage}${e.errorCode ? ` (${e.errorCode})` : ''}` });
}

/** Errors that mean the peer is not speaking TLS at all. */
export function looksLikePlaintextPeer(errorCode: string, message: string): boolean {
  return /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNKNOWN_PROTOCOL|record layer failure/i.test(`${errorCode} ${message}`);
}
