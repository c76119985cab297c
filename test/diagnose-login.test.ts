/**
 * diagnose's IMAP, LOGIN and SIZE steps against real Dovecot: a full pass with a size estimate,
 * LOGINDISABLED on the plain port, a wrong password (the seeds' "We had trouble signing in…"),
 * a connection limit, admin impersonation refused; and the CLI end to end (exit codes, JSON,
 * the password never printed).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { registerDiagnoseCommand } from '../src/cli/commands/diagnose-command.ts';
import { runDiagnose } from '../src/diagnose/diagnose-probe.ts';
import { connectTcp, tlsHandshake } from '../src/diagnose/transport.ts';
import { ImapWire } from '../src/diagnose/imap-wire.ts';
import type { DiagnoseReport } from '../src/diagnose/diagnose-types.ts';
import { fillMailbox, generateCorpus, startDovecot, type DovecotServer } from '../src/testbed/index.ts';
import { createTestCertificates, type TestCertificates } from './support/certificates.ts';

const PASSWORD = 'Sesame-0pen!';
let certs: TestCertificates;
let main: DovecotServer;
let limited: DovecotServer;
/** Failed logins go here: Dovecot's per-IP auth penalty would otherwise slow every later login on `main`. */
let failing: DovecotServer;
let seeded = 0;

before(async () => {
  certs = createTestCertificates();
  [main, failing, limited] = await Promise.all([
    startDovecot({
      name: 'dg-login', folderStyle: 'dovecot', tls: certs.good, disablePlaintextAuth: true,
      users: [{ user: 'alice', password: PASSWORD }, { user: 'bob', password: 'pw-bob' }],
      masterUser: { user: 'mailadmin', password: 'pw-admin' },
    }),
    startDovecot({
      name: 'dg-fail', folderStyle: 'dovecot', tls: certs.good, extraConfig: 'auth_failure_delay = 0',
      users: [{ user: 'alice', password: PASSWORD }, { user: 'bob', password: 'pw-bob' }],
      masterUser: { user: 'mailadmin', password: 'pw-admin' },
    }),
    startDovecot({ name: 'dg-limit', folderStyle: 'dovecot', tls: certs.good, maxUserIpConnections: 1, users: [{ user: 'carol', password: 'pw-carol' }] }),
  ]);
  const corpus = generateCorpus({ messages: 40 });
  seeded = (await fillMailbox(main, { user: 'alice', password: PASSWORD }, corpus)).messages;
});

after(async () => {
  await Promise.all([main?.stop(), failing?.stop(), limited?.stop()]);
  certs?.cleanup();
});

function ssl(server: DovecotServer, user: string, password: string, extra: Record<string, unknown> = {}): Promise<DiagnoseReport> {
  return runDiagnose({ host: server.host, port: server.imapsPort, security: 'ssl', ca: certs.rootCaPem, timeoutMs: 5000, user, password, ...extra });
}

function assertLoginFailure(r: DiagnoseReport, code: string, remediation: RegExp, exitCode = 5): void {
  assert.equal(r.failedStep, 'login', JSON.stringify(r.verdict));
  assert.equal(r.verdict.code, code);
  assert.equal(r.exitCode, exitCode);
  assert.match(r.verdict.remediation, remediation);
  assert.equal(r.steps.find((s) => s.step === 'size')!.status, 'skipped');
}

describe('diagnose: IMAP, login and size', () => {
  it('passes every step, names the server and estimates the migration time', async () => {
    const r = await ssl(main, 'alice', PASSWORD);
    assert.equal(r.ok, true, JSON.stringify(r.verdict));
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.steps.map((s) => s.status === 'fail' || s.status === 'skipped' ? s.status : 'ok'), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    const imap = r.steps.find((s) => s.step === 'imap')!;
    assert.equal((imap.details.serverKind as { name: string }).name, 'Dovecot');
    assert.equal(imap.details.capabilitiesPhase, 'after login');
    const flags = imap.details.capabilityFlags as Record<string, boolean>;
    for (const cap of ['IMAP4rev1', 'CONDSTORE', 'QRESYNC', 'UIDPLUS', 'LITERAL+', 'MULTIAPPEND', 'SPECIAL-USE', 'IDLE']) assert.equal(flags[cap], true, cap);
    assert.ok(!imap.notes.some((n) => n.code === 'IMAP_NO_CONDSTORE'), 'no false alarm from pre-login capabilities');
    const size = r.steps.find((s) => s.step === 'size')!;
    assert.equal(size.details.messages, seeded);
    assert.ok(Number(size.details.bytes) > 0);
    assert.ok(Number(size.details.folderCount) >= 5);
    assert.equal((size.details.assumedRate as { provisional: boolean }).provisional, true);
    assert.match(size.summary, /to migrate at the provisional rate/);
    assert.doesNotMatch(JSON.stringify(r), new RegExp(PASSWORD));
  });

  it('LOGINDISABLED on the plain port: AUTH_LOGIN_DISABLED, and the password is not sent', async () => {
    const r = await runDiagnose({ host: main.host, port: main.imapPort, security: 'none', timeoutMs: 5000, user: 'alice', password: PASSWORD });
    assertLoginFailure(r, 'AUTH_LOGIN_DISABLED', /--security starttls/);
    assert.equal(r.steps.find((s) => s.step === 'login')!.details.passwordSent, false);
    assert.ok(r.steps.find((s) => s.step === 'imap')!.notes.some((n) => n.code === 'IMAP_STARTTLS_AVAILABLE'));
  });

  it('the same account over STARTTLS signs in', async () => {
    const r = await runDiagnose({ host: main.host, port: main.imapPort, security: 'starttls', ca: certs.rootCaPem, timeoutMs: 5000, user: 'alice', password: PASSWORD, skipSize: true });
    assert.equal(r.ok, true, JSON.stringify(r.verdict));
  });

  it('an admin that may not impersonate: AUTH_IMPERSONATION_DENIED (its own login works)', async () => {
    const r = await ssl(failing, 'bob', 'pw-bob', { authzid: 'alice' });
    assertLoginFailure(r, 'AUTH_IMPERSONATION_DENIED', /master user/);
    assert.equal(r.steps.find((s) => s.step === 'login')!.details.adminAloneLogin, 'succeeded');
  });

  it('a wrong password: AUTH_FAILED with the seeds\' wording', async () => {
    const r = await ssl(failing, 'alice', 'not-the-password');
    assertLoginFailure(r, 'AUTH_FAILED', /Check the user name and password for alice/);
    assert.equal(r.verdict.message, "We had trouble signing in to this account. Confirm that you're using the correct user name and password.");
  });

  it('a master user may impersonate (SASL PLAIN authzid, and user*admin)', async () => {
    assert.equal((await ssl(main, 'mailadmin', 'pw-admin', { authzid: 'alice', skipSize: true })).ok, true);
    assert.equal((await ssl(main, 'alice*mailadmin', 'pw-admin', { skipSize: true })).ok, true);
  });

  it('too many connections: CONN_TOO_MANY while another session holds the only slot', async () => {
    const socket = await tlsHandshake(await connectTcp(limited.host, limited.imapsPort, 5000), { rejectUnauthorized: false }, 5000);
    const holder = new ImapWire(socket, 5000);
    try {
      await holder.readGreeting();
      assert.equal((await holder.command(['LOGIN', 'carol', 'pw-carol'])).tagged.kind, 'OK');
      const r = await ssl(limited, 'carol', 'pw-carol');
      assertLoginFailure(r, 'CONN_TOO_MANY', /mail_max_userip_connections/, 3);
      assert.match(String(r.steps.find((s) => s.step === 'login')!.details.serverResponse), /connections/i);
    } finally {
      await holder.close();
    }
  });
});

describe('diagnose command against Dovecot', () => {
  async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ out: string; err: string; code: number | null }> {
    let out = '';
    let err = '';
    let code: number | null = null;
    const program = new Command().exitOverride();
    registerDiagnoseCommand(program, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, env, setExitCode: (c) => { code = c; } });
    await program.parseAsync(['diagnose', ...args], { from: 'user' });
    return { out, err, code };
  }

  it('exit 0 with a human report; the password (from MAILSHIFT_PASSWORD) is never printed', async () => {
    const r = await cli([`${main.host}:${main.imapsPort}`, '--user', 'alice', '--ca', certs.rootCaFile], { MAILSHIFT_PASSWORD: PASSWORD });
    assert.equal(r.code, 0, r.out + r.err);
    for (const step of ['dns', 'tcp', 'tls', 'imap', 'login', 'size']) assert.match(r.out, new RegExp(`(PASS|WARN)  ${step}`));
    assert.match(r.out, /^OK: mailshift can connect/m);
    assert.doesNotMatch(r.out + r.err, new RegExp(PASSWORD));
  });

  it('exit 5 and the fix for a wrong password, in JSON too', async () => {
    const r = await cli([`${failing.host}:${failing.imapsPort}`, '--user', 'alice', '--ca', certs.rootCaFile, '--json'], { MAILSHIFT_PASSWORD: 'wrong-one' });
    assert.equal(r.code, 5);
    const report = JSON.parse(r.out) as DiagnoseReport;
    assert.equal(report.verdict.code, 'AUTH_FAILED');
    assert.doesNotMatch(r.out, /wrong-one/);
  });

  it('exit 4 for an untrusted certificate', async () => {
    const r = await cli([`${main.host}:${main.imapsPort}`], {});
    assert.equal(r.code, 4);
    assert.match(r.out, /FAILED at tls \[TLS_UNTRUSTED\]/);
    assert.match(r.out, /certificates sent \(described by a diagnostic handshake, not trusted\)/);
  });
});
