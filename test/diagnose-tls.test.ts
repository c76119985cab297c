/**
 * diagnose against real Dovecot instances, one per TLS failure of seed 004 and the classic
 * certificate problems. Each case asserts the verdict code and that its remediation is present;
 * the "fixed" variants (the right --ca, the documented --min-tls override) must then pass.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startDovecot, type DovecotOptions, type DovecotServer } from '../src/testbed/index.ts';
import { runDiagnose } from '../src/diagnose/diagnose-probe.ts';
import type { DiagnoseOptions, DiagnoseReport } from '../src/diagnose/diagnose-types.ts';
import { createTestCertificates, writeOpensslConf, type TestCertificates } from './support/certificates.ts';

let certs: TestCertificates;
const srv: Record<string, DovecotServer> = {};

function assertTlsFailure(r: DiagnoseReport, code: string, remediation: RegExp): void {
  assert.equal(r.failedStep, 'tls', JSON.stringify(r.verdict));
  assert.equal(r.verdict.code, code);
  assert.equal(r.exitCode, 4);
  assert.match(r.verdict.remediation, remediation);
  assert.ok(r.steps.filter((s) => ['imap', 'login', 'size'].includes(s.step)).every((s) => s.status === 'skipped'));
}

function probe(server: DovecotServer, extra: Partial<DiagnoseOptions> = {}): Promise<DiagnoseReport> {
  return runDiagnose({ host: server.host, port: server.imapsPort, security: 'ssl', timeoutMs: 5000, ...extra });
}

before(async () => {
  certs = createTestCertificates();
  const users = [{ user: 'alice', password: 'pw-alice' }];
  const base = (name: string, extra: Partial<DovecotOptions>): DovecotOptions => ({ name, folderStyle: 'dovecot', users, ...extra });
  const modern = await Promise.all([
    startDovecot(base('dg-self', { tls: certs.selfSigned })),
    startDovecot(base('dg-good', { tls: certs.good })),
    startDovecot(base('dg-other', { tls: certs.otherName })),
    startDovecot(base('dg-expired', { tls: certs.expired })),
    startDovecot(base('dg-inter', { tls: certs.missingIntermediate })),
  ]);
  [srv.self, srv.good, srv.other, srv.expired, srv.inter] = modern;
  // The test bed's readiness check handshakes with Node's defaults (TLS 1.2+), which a TLS-1.0-only
  // server refuses; lower them for the start only, then restore them before any probe runs.
  const saved = { min: tls.DEFAULT_MIN_VERSION, ciphers: tls.DEFAULT_CIPHERS };
  tls.DEFAULT_MIN_VERSION = 'TLSv1';
  tls.DEFAULT_CIPHERS = 'DEFAULT:@SECLEVEL=0';
  try {
    srv.legacy = await startDovecot(base('dg-legacy', {
      tls: certs.good,
      sslMinProtocol: 'TLSv1',
      sslCipherList: 'DEFAULT:@SECLEVEL=0',
      opensslConf: writeOpensslConf(certs.dir, 'legacy', { maxProtocol: 'TLSv1', cipherString: 'DEFAULT:@SECLEVEL=0' }),
    }));
  } finally {
    tls.DEFAULT_MIN_VERSION = saved.min;
    tls.DEFAULT_CIPHERS = saved.ciphers;
  }
});

after(async () => {
  await Promise.all(Object.values(srv).map((s) => s.stop()));
  certs?.cleanup();
});

describe('diagnose: TLS', () => {
  it('a valid chain (leaf + intermediate, private root given with --ca) passes and lists the chain as sent', async () => {
    const r = await probe(srv.good!, { ca: certs.rootCaPem });
    assert.equal(r.ok, true, JSON.stringify(r.verdict));
    assert.equal(r.exitCode, 0);
    const t = r.steps.find((s) => s.step === 'tls')!;
    assert.equal(t.details.certificatesSent, 2);
    assert.match(String(t.details.protocol), /^TLSv1\.[23]$/);
    assert.ok(t.details.cipher);
  });

  it('the same chain without --ca: TLS_UNTRUSTED (a private CA)', async () => {
    assertTlsFailure(await probe(srv.good!), 'TLS_UNTRUSTED', /--ca FILE/);
  });

  it('self-signed: TLS_SELF_SIGNED, then passes with --ca', async () => {
    const r = await probe(srv.self!);
    assertTlsFailure(r, 'TLS_SELF_SIGNED', /--ca FILE/);
    assert.match(r.verdict.remediation, /never turned off/);
    const fixed = await probe(srv.self!, { ca: readFileSync(certs.selfSigned.certFile, 'utf8') });
    assert.equal(fixed.ok, true, JSON.stringify(fixed.verdict));
  });

  it('self-signed over STARTTLS: same verdict after the plain-text greeting', async () => {
    const r = await runDiagnose({ host: srv.self!.host, port: srv.self!.imapPort, security: 'starttls', timeoutMs: 5000 });
    assertTlsFailure(r, 'TLS_SELF_SIGNED', /--ca FILE/);
    assert.match(String(r.steps.find((s) => s.step === 'tls')!.details.greetingBeforeTls), /Dovecot/);
  });

  it('a certificate for another name from a trusted CA: TLS_NAME_MISMATCH', async () => {
    const r = await probe(srv.other!, { ca: certs.rootCaPem });
    assertTlsFailure(r, 'TLS_NAME_MISMATCH', /certificate that covers 127\.0\.0\.1/);
    assert.match(r.verdict.message, /mail\.other\.example/);
  });

  it('a certificate for another name from an untrusted CA: TLS_INTERCEPTED (seed 004 cause 2)', async () => {
    const r = await probe(srv.other!);
    assertTlsFailure(r, 'TLS_INTERCEPTED', /TLS inspection/);
    assert.match(r.verdict.message, /mail\.other\.example/);
  });

  it('an expired certificate: TLS_EXPIRED', async () => {
    const r = await probe(srv.expired!, { ca: certs.rootCaPem });
    assertTlsFailure(r, 'TLS_EXPIRED', /Renew the server certificate/);
    assert.match(r.verdict.message, /expired/);
  });

  it('a leaf sent without its intermediate: TLS_INCOMPLETE_CHAIN (seed 004 cause 3)', async () => {
    const r = await probe(srv.inter!, { ca: certs.rootCaPem });
    assertTlsFailure(r, 'TLS_INCOMPLETE_CHAIN', /Install the intermediate certificate/);
    const t = r.steps.find((s) => s.step === 'tls')!;
    assert.equal((t.details.chainAsSent as unknown[]).length, 1);
    assert.match(String(t.details.diagnosticHandshake), /without verification/);
  });

  it('a TLS-1.0-only server: TLS_LEGACY_ONLY naming the versions it supports (seeds 000 and 004)', async () => {
    const r = await probe(srv.legacy!, { ca: certs.rootCaPem });
    assertTlsFailure(r, 'TLS_LEGACY_ONLY', /Upgrade TLS on the server/);
    assert.match(r.verdict.message, /only offers TLS 1\.0/);
    assert.deepEqual(r.steps.find((s) => s.step === 'tls')!.details.supportedVersions, ['TLSv1']);
  });

  it('a TLS-1.0-only server over STARTTLS: same verdict', async () => {
    const r = await runDiagnose({ host: srv.legacy!.host, port: srv.legacy!.imapPort, security: 'starttls', ca: certs.rootCaPem, timeoutMs: 5000 });
    assertTlsFailure(r, 'TLS_LEGACY_ONLY', /--min-tls TLSv1/);
  });

  it('the documented last resort (--min-tls TLSv1 --ciphers DEFAULT:@SECLEVEL=0) connects, with a warning', async () => {
    const r = await probe(srv.legacy!, { ca: certs.rootCaPem, minTlsVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0', user: 'alice', password: 'pw-alice' });
    assert.equal(r.ok, true, JSON.stringify(r.verdict));
    const t = r.steps.find((s) => s.step === 'tls')!;
    assert.equal(t.status, 'warn');
    assert.equal(t.details.protocol, 'TLSv1');
    assert.ok(t.notes.some((n) => n.code === 'TLS_LEGACY_NEGOTIATED'));
  });

  it('--security ssl on the plain port: TLS_PLAINTEXT_PORT', async () => {
    const r = await runDiagnose({ host: srv.good!.host, port: srv.good!.imapPort, security: 'ssl', timeoutMs: 5000 });
    assertTlsFailure(r, 'TLS_PLAINTEXT_PORT', /--security starttls/);
  });

  it('--security none on the implicit-TLS port: TLS_EXPECTED', async () => {
    const r = await runDiagnose({ host: srv.good!.host, port: srv.good!.imapsPort, security: 'none', timeoutMs: 500 });
    assert.equal(r.verdict.code, 'TLS_EXPECTED');
    assert.equal(r.exitCode, 4);
    assert.match(r.verdict.remediation, /--security ssl/);
  });
});
