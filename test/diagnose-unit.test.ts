/** Pure parts of diagnose: classifiers, parsers and formatting, without any server. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDiagnoseOptions, DiagnoseUsageError, parseTarget, parseTimeout, parseTlsVersion, resolveEndpoint } from '../src/cli/commands/diagnose-command.ts';
import { DIAGNOSE_CODES, exitCodeForVerdict, formatElapsed, verdict } from '../src/diagnose/diagnose-codes.ts';
import { ERROR_CATALOG } from '../src/domain/errors.ts';
import type { CertificateDescription } from '../src/diagnose/diagnose-types.ts';
import { parseLine, parseValues, quoteString } from '../src/diagnose/imap-wire.ts';
import { classifyLoginFailure, splitImpersonation } from '../src/diagnose/login-analysis.ts';
import { detectServerKind, idFields, migrationNotes, summariseCapabilities } from '../src/diagnose/server-profile.ts';
import { certificateProblems, classifyCertificateFailure, classifyProtocolFailure } from '../src/diagnose/tls-analysis.ts';

const NOW = new Date('2026-06-01T00:00:00Z');

function cert(partial: Partial<CertificateDescription>): CertificateDescription {
  return {
    subject: 'CN=imap.contoso.com', issuer: 'CN=Some CA', subjectAltNames: ['DNS:imap.contoso.com'],
    validFrom: '2026-01-01T00:00:00.000Z', validTo: '2027-01-01T00:00:00.000Z', serialNumber: '01', fingerprint256: 'AA',
    selfSigned: false, isCa: false, ...partial,
  };
}

describe('diagnose verdicts', () => {
  it('formats timeouts like the seeds', () => {
    assert.equal(formatElapsed(15_000), '00:00:15');
    assert.equal(formatElapsed(300), '00:00:00.300');
    assert.equal(formatElapsed(3_725_000), '01:02:05');
  });

  it('uses the catalog wording for catalog codes', () => {
    const v = verdict('CONN_TIMEOUT', { host: 'Servername.contoso.com', port: 993, elapsed: formatElapsed(15_000) });
    assert.equal(v.message, 'The connection to the server Servername.contoso.com timed out after 00:00:15.');
    assert.match(v.remediation, /firewall/);
    assert.equal(exitCodeForVerdict(v), 3);
  });

  it('maps every verdict code to the layer exit code', () => {
    for (const code of DIAGNOSE_CODES) {
      const spec = ERROR_CATALOG[code];
      const expected = { connection: 3, tls: 4, auth: 5, protocol: 3 }[spec.class as 'connection' | 'tls' | 'auth' | 'protocol'];
      assert.equal(exitCodeForVerdict(verdict(code, {})), expected, code);
      assert.ok(spec.remediation.length > 40, `${code} has a real remediation`);
    }
  });

  it('takes every text from the error catalog, with no diagnose-specific overrides', () => {
    for (const code of DIAGNOSE_CODES) {
      const v = verdict(code, {});
      assert.equal(v.message, ERROR_CATALOG[code].message, code);
      assert.equal(v.remediation, ERROR_CATALOG[code].remediation, code);
    }
    const v = verdict('TLS_UNTRUSTED', { host: 'imap.contoso.com', detail: 'x' }, 'Also found: more.');
    assert.match(v.remediation, /--ca FILE/);
    assert.match(v.remediation, /--source-ca FILE/);
    assert.match(v.remediation, / Also found: more\.$/);
  });
});

describe('TLS classification', () => {
  it('names a leaf-only chain from an unknown issuer an incomplete chain', () => {
    const r = classifyCertificateFailure({ host: 'imap.contoso.com', errorCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', errorMessage: 'unable to verify the first certificate', chain: [cert({})], now: NOW }, 993);
    assert.equal(r.verdict.code, 'TLS_INCOMPLETE_CHAIN');
    assert.match(r.verdict.remediation, /intermediate certificate "CN=Some CA"/);
  });

  it('names a full chain to a private root an untrusted CA, not an incomplete chain', () => {
    const chain = [cert({}), cert({ subject: 'CN=Some CA', issuer: 'CN=Private Root', isCa: true, subjectAltNames: [] })];
    const r = classifyCertificateFailure({ host: 'imap.contoso.com', errorCode: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', errorMessage: 'unable to get local issuer certificate', chain, now: NOW }, 993);
    assert.equal(r.verdict.code, 'TLS_UNTRUSTED');
  });

  it('names a certificate for another host from an untrusted CA an interception (seed 004)', () => {
    const chain = [cert({ subject: 'CN=corporate-proxy-ca', subjectAltNames: [], issuer: 'CN=Contoso Proxy Root' })];
    const r = classifyCertificateFailure({ host: 'imap.gmail.com', errorCode: 'SELF_SIGNED_CERT_IN_CHAIN', errorMessage: 'self-signed certificate in certificate chain', chain, now: NOW }, 993);
    assert.equal(r.verdict.code, 'TLS_INTERCEPTED');
    assert.match(r.verdict.remediation, /TLS inspection/);
  });

  it('recognises inspection products by issuer even when the name matches', () => {
    const chain = [cert({ issuer: 'CN=Zscaler Intermediate Root CA' }), cert({ subject: 'CN=Zscaler Intermediate Root CA', issuer: 'CN=Zscaler Root CA', isCa: true })];
    const problems = certificateProblems({ host: 'imap.contoso.com', errorCode: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', errorMessage: 'x', chain, now: NOW });
    assert.equal(problems[0]!.code, 'TLS_INTERCEPTED');
  });

  it('reports expiry from the dates even when the chain is also untrusted', () => {
    const chain = [cert({ validFrom: '2019-01-01T00:00:00.000Z', validTo: '2020-01-01T00:00:00.000Z' }), cert({ subject: 'CN=Some CA', issuer: 'CN=Root', isCa: true })];
    const r = classifyCertificateFailure({ host: 'imap.contoso.com', errorCode: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', errorMessage: 'x', chain, now: NOW }, 993);
    assert.equal(r.verdict.code, 'TLS_EXPIRED');
  });

  it('names TLS-1.0-only servers from the version sweep', () => {
    const v = classifyProtocolFailure({
      host: 'mail.contoso.com', port: 993, errorCode: 'ERR_SSL_UNSUPPORTED_PROTOCOL', errorMessage: 'unsupported protocol', minimum: 'TLSv1.2',
      sweep: [{ version: 'TLSv1', ok: true, cipher: 'AES256-SHA' }, { version: 'TLSv1.1', ok: false }, { version: 'TLSv1.2', ok: false }, { version: 'TLSv1.3', ok: false }],
    });
    assert.equal(v.code, 'TLS_LEGACY_ONLY');
    assert.match(v.message, /only offers TLS 1\.0/);
    assert.match(v.remediation, /--min-tls TLSv1 /);
  });

  it('names a cipher mismatch when a modern version works with other ciphers', () => {
    const v = classifyProtocolFailure({
      host: 'mail.contoso.com', port: 993, errorCode: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', errorMessage: 'sslv3 alert handshake failure', minimum: 'TLSv1.2',
      sweep: [{ version: 'TLSv1', ok: false }, { version: 'TLSv1.1', ok: false }, { version: 'TLSv1.2', ok: true, cipher: 'DES-CBC3-SHA' }, { version: 'TLSv1.3', ok: false }],
    });
    assert.equal(v.code, 'TLS_NO_SHARED_CIPHER');
    assert.match(v.message, /DES-CBC3-SHA/);
  });
});

describe('IMAP parsing and server profile', () => {
  it('parses status responses with codes', () => {
    const l = parseLine('d1 NO [LIMIT] Too many connections');
    assert.deepEqual([l.tag, l.kind, l.code, l.text], ['d1', 'NO', 'LIMIT', 'Too many connections']);
    assert.equal(parseLine('* 3 EXISTS').kind, 'EXISTS');
  });

  it('parses ID and LIST values, literals included', () => {
    assert.deepEqual(idFields(parseValues('("name" "Dovecot" "version" NIL)')[0]), { name: 'Dovecot', version: '' });
    assert.deepEqual(parseValues('(\\HasNoChildren) "/" {5}\r\nA "b"'), [['\\HasNoChildren'], '/', 'A "b"']);
    assert.equal(quoteString('pa"ss'), '"pa\\"ss"');
    assert.equal(quoteString('pässword'), null);
  });

  it('recognises server products', () => {
    assert.equal(detectServerKind('Gimap ready for requests from 1.2.3.4', null, ['IMAP4rev1', 'X-GM-EXT-1']).name, 'Gmail');
    assert.equal(detectServerKind('The Microsoft Exchange IMAP4 service is ready.', null, []).name, 'Microsoft Exchange');
    assert.equal(detectServerKind('ready', { name: 'Dovecot' }, []).name, 'Dovecot');
    assert.equal(detectServerKind('Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.', null, []).name, 'Courier-IMAP');
    assert.equal(detectServerKind('mail.example.com Cyrus IMAP v3.0 server ready', null, []).name, 'Cyrus IMAP');
    assert.equal(detectServerKind('IMAP4rev1 server ready', null, []).name, 'unknown');
  });

  it('explains what missing capabilities mean for a migration', () => {
    const caps = summariseCapabilities(['IMAP4rev1', 'X-GM-EXT-1', 'APPENDLIMIT=35651584']);
    const codes = migrationNotes(caps, detectServerKind('Gimap ready', null, caps.all)).map((n) => n.code);
    for (const code of ['IMAP_NO_CONDSTORE', 'IMAP_NO_UIDPLUS', 'IMAP_NO_LITERAL_PLUS', 'IMAP_NO_MULTIAPPEND', 'IMAP_GMAIL_LABELS', 'IMAP_APPENDLIMIT']) {
      assert.ok(codes.includes(code), code);
    }
    assert.equal(caps.appendLimit, 35651584);
    const full = summariseCapabilities(['IMAP4rev1', 'CONDSTORE', 'QRESYNC', 'UIDPLUS', 'LITERAL+', 'MULTIAPPEND', 'SPECIAL-USE']);
    assert.deepEqual(migrationNotes(full, { name: 'unknown', evidence: [], advice: null }), []);
  });
});

describe('login classification', () => {
  it('names each cause from codes and real server texts', () => {
    assert.equal(classifyLoginFailure({ code: 'AUTHENTICATIONFAILED', text: 'Authentication failed.' }), 'AUTH_FAILED');
    assert.equal(classifyLoginFailure({ code: null, text: 'Maximum number of connections from user+IP exceeded (mail_max_userip_connections=1)' }), 'CONN_TOO_MANY');
    assert.equal(classifyLoginFailure({ code: 'LIMIT', text: 'x' }), 'CONN_TOO_MANY');
    assert.equal(classifyLoginFailure({ code: null, text: 'User is authenticated but not connected.' }), 'AUTH_IMAP_DISABLED');
    assert.equal(classifyLoginFailure({ code: 'ALERT', text: 'Your account is not enabled for IMAP use.' }), 'AUTH_IMAP_DISABLED');
    assert.equal(classifyLoginFailure({ code: 'ALERT', text: 'Application-specific password required' }), 'AUTH_APP_PASSWORD_REQUIRED');
    assert.equal(classifyLoginFailure({ code: 'PRIVACYREQUIRED', text: 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.' }), 'AUTH_LOGIN_DISABLED');
    assert.equal(classifyLoginFailure({ code: 'UNAVAILABLE', text: 'Temporary authentication failure.' }), 'AUTH_UNAVAILABLE');
  });

  it('splits the admin impersonation formats', () => {
    assert.deepEqual(splitImpersonation('alice*mailadmin'), { mailbox: 'alice', admin: 'mailadmin' });
    assert.deepEqual(splitImpersonation('contoso/mailadmin/usera'), { admin: 'contoso/mailadmin', mailbox: 'usera' });
    assert.deepEqual(splitImpersonation('#usera@contoso.com#mailadmin#'), { mailbox: 'usera@contoso.com', admin: 'mailadmin' });
    assert.equal(splitImpersonation('alice@contoso.com'), null);
  });
});

describe('diagnose command-line parsing', () => {
  it('parses targets, ports and defaults', () => {
    assert.deepEqual(parseTarget('imap.contoso.com'), { host: 'imap.contoso.com', port: null });
    assert.deepEqual(parseTarget('imap.contoso.com:143'), { host: 'imap.contoso.com', port: 143 });
    assert.deepEqual(parseTarget('[::1]:993'), { host: '::1', port: 993 });
    assert.deepEqual(parseTarget('::1'), { host: '::1', port: null });
    assert.deepEqual(resolveEndpoint(null, undefined), { port: 993, security: 'ssl' });
    assert.deepEqual(resolveEndpoint(143, undefined), { port: 143, security: 'starttls' });
    assert.deepEqual(resolveEndpoint(null, 'starttls'), { port: 143, security: 'starttls' });
    assert.equal(parseTimeout('15s'), 15_000);
    assert.equal(parseTimeout('500ms'), 500);
    assert.equal(parseTimeout('2'), 2000);
    assert.equal(parseTlsVersion('1.0'), 'TLSv1');
    assert.equal(parseTlsVersion('TLSv1.2'), 'TLSv1.2');
  });

  it('refuses passwords on the command line and missing passwords', () => {
    assert.throws(() => buildDiagnoseOptions('h', { timeout: '15s', size: true, user: 'u', password: 'secret' }, {}), DiagnoseUsageError);
    assert.throws(() => buildDiagnoseOptions('h', { timeout: '15s', size: true, user: 'u' }, {}), /MAILSHIFT_PASSWORD/);
    assert.throws(() => buildDiagnoseOptions('h', { timeout: '15s', size: true, security: 'tls13' }, {}), /ssl, starttls or none/);
    const o = buildDiagnoseOptions('h:993', { timeout: '1m', size: false, user: 'u' }, { MAILSHIFT_PASSWORD: 'pw' });
    assert.equal(o.password, 'pw');
    assert.equal(o.timeoutMs, 60_000);
    assert.equal(o.skipSize, true);
  });
});
