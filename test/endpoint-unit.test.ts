/**
 * Endpoints without a server: admin login formats, the secret box (key sources, key file mode,
 * wrong key), validation of every setting, the store round trip, removal refused while a batch
 * uses the endpoint, the credentials resolver, and the connection test with a substituted probe.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { createEndpointService, EndpointTestFailed, type EndpointInput } from '../src/app/endpoint-service.ts';
import { isMailshiftError, exitCodeFor } from '../src/domain/errors.ts';
import type { DiagnoseOptions, DiagnoseReport } from '../src/diagnose/diagnose-types.ts';
import { adminLoginFor, fillLoginTemplate, loginTemplateProblem } from '../src/endpoint/admin-login.ts';
import { openSqliteStore } from '../src/store/open-sqlite.ts';
import type { Database } from '../src/store/schema.ts';
import { keyFilePathFor, openSecretBox, parseSecretKey } from '../src/store/secret-box.ts';

const KEY_HEX = 'a'.repeat(64);
const KEY_B64 = Buffer.alloc(32, 7).toString('base64');

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isMailshiftError(err) && err.code === code);
}

async function expectReject(promise: Promise<unknown>, code: string): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(isMailshiftError(caught), `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('admin login formats (the seeds\' formats)', () => {
  const mailbox = 'alberta@contoso.com';
  it('authzid: the admin signs in, the mailbox is the authorization identity', () => {
    assert.deepEqual(adminLoginFor({ user: 'mailadmin', format: 'authzid', loginTemplate: null }, mailbox), { user: 'mailadmin', authzid: mailbox });
  });
  it('dovecot: User_UserName*Admin_UserName', () => {
    assert.deepEqual(adminLoginFor({ user: 'mailadmin', format: 'dovecot', loginTemplate: null }, mailbox), { user: 'alberta@contoso.com*mailadmin' });
  });
  it('exchange: Domain/Admin_UserName/User_UserName', () => {
    assert.deepEqual(adminLoginFor({ user: 'mailadmin', format: 'exchange', loginTemplate: null }, mailbox), { user: 'contoso.com/mailadmin/alberta' });
    assert.deepEqual(adminLoginFor({ user: 'CONTOSO\\mailadmin', format: 'exchange', loginTemplate: null }, mailbox), { user: 'CONTOSO/mailadmin/alberta' });
    assert.deepEqual(adminLoginFor({ user: 'CONTOSO/mailadmin', format: 'exchange', loginTemplate: null }, 'alberta'), { user: 'CONTOSO/mailadmin/alberta' });
  });
  it('mirapoint: #user@domain#Admin_UserName#', () => {
    assert.deepEqual(adminLoginFor({ user: 'mailadmin', format: 'mirapoint', loginTemplate: null }, mailbox), { user: '#alberta@contoso.com#mailadmin#' });
  });
  it('template: {user} {localpart} {domain} {admin}', () => {
    assert.equal(fillLoginTemplate('{localpart}%{admin}@{domain}', 'ma', mailbox), 'alberta%ma@contoso.com');
    assert.deepEqual(adminLoginFor({ user: 'ma', format: 'template', loginTemplate: '{user}*{admin}' }, mailbox), { user: 'alberta@contoso.com*ma' });
    assert.equal(loginTemplateProblem('{user}*{admin}'), null);
    assert.match(loginTemplateProblem('{usr}*{admin}') ?? '', /unknown placeholder/);
    assert.match(loginTemplateProblem('{admin}') ?? '', /must contain \{user\} or \{localpart\}/);
  });
});

describe('secret box', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ms-secret-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses hex and base64 keys and refuses anything else with SECRET_KEY_INVALID', () => {
    assert.equal(parseSecretKey(KEY_HEX, 'env').length, 32);
    assert.equal(parseSecretKey(KEY_B64, 'env').length, 32);
    assert.equal(parseSecretKey(KEY_B64.replace(/=+$/, ''), 'env').length, 32);
    expectCode(() => parseSecretKey('short', 'env'), 'SECRET_KEY_INVALID');
    expectCode(() => parseSecretKey(Buffer.alloc(16).toString('base64'), 'env'), 'SECRET_KEY_INVALID');
    expectCode(() => parseSecretKey('not a key!', 'env'), 'SECRET_KEY_INVALID');
    const box = openSecretBox({ statePath: join(dir, 'x', 'state.sqlite'), env: { MAILSHIFT_SECRET_KEY: 'nope' } });
    expectCode(() => box.encrypt('pw', 'p'), 'SECRET_KEY_INVALID');
  });

  it('round-trips, versioned ciphertext, random IV, purpose-bound, wrong key → SECRET_KEY_MISMATCH', () => {
    const a = openSecretBox({ statePath: ':memory:', env: { MAILSHIFT_SECRET_KEY: KEY_HEX } });
    const c1 = a.encrypt('P@ssw0rd', 'purpose');
    const c2 = a.encrypt('P@ssw0rd', 'purpose');
    assert.match(c1, /^v1:[0-9a-f]{8}:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.notEqual(c1, c2);
    assert.ok(!c1.includes('P@ssw0rd'));
    assert.equal(a.decrypt(c1, 'purpose'), 'P@ssw0rd');
    expectCode(() => a.decrypt(c1, 'other purpose'), 'SECRET_KEY_MISMATCH');
    const b = openSecretBox({ statePath: ':memory:', env: { MAILSHIFT_SECRET_KEY: KEY_B64 } });
    let err: unknown;
    try { b.decrypt(c1, 'purpose'); } catch (e) { err = e; }
    assert.ok(isMailshiftError(err) && err.code === 'SECRET_KEY_MISMATCH');
    assert.match(err.message, /secret key has changed/);
    assert.ok(!err.message.includes('P@ssw0rd') && !err.message.includes(KEY_HEX) && !err.message.includes(KEY_B64));
  });

  it('generates secret.key next to the state database with mode 0600, reuses it, refuses a readable one', () => {
    const statePath = join(dir, 'state', 'state.sqlite');
    const box = openSecretBox({ statePath, env: {} });
    const cipher = box.encrypt('hunter2', 'p');
    const keyPath = keyFilePathFor(statePath);
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    const source = box.keySource();
    assert.equal(source.kind, 'file');
    const again = openSecretBox({ statePath, env: {} });
    assert.equal(again.decrypt(cipher, 'p'), 'hunter2');
    assert.deepEqual(again.keySource(), { kind: 'file', path: keyPath, created: false });
    assert.deepEqual(source, { kind: 'file', path: keyPath, created: true });
    chmodSync(keyPath, 0o644);
    const insecure = openSecretBox({ statePath, env: {} });
    expectCode(() => insecure.decrypt(cipher, 'p'), 'SECRET_KEY_FILE_INSECURE');
    chmodSync(keyPath, 0o600);
    writeFileSync(keyPath, 'garbage\n', { mode: 0o600 });
    expectCode(() => openSecretBox({ statePath, env: {} }).decrypt(cipher, 'p'), 'SECRET_KEY_INVALID');
  });

  it('creates the key file once when many boxes race for it', () => {
    const statePath = join(dir, 'race', 'state.sqlite');
    const boxes = Array.from({ length: 8 }, () => openSecretBox({ statePath, env: {} }));
    const ciphers = boxes.map((b, i) => b.encrypt(`pw${i}`, 'p'));
    const key = readFileSync(keyFilePathFor(statePath), 'utf8');
    assert.equal(parseSecretKey(key, 'file').length, 32);
    ciphers.forEach((c, i) => assert.equal(boxes[0]!.decrypt(c, 'p'), `pw${i}`));
  });
});

function okReport(options: DiagnoseOptions): DiagnoseReport {
  return {
    target: { host: options.host, port: options.port, security: options.security, user: options.user ?? null, authzid: options.authzid ?? null, servername: null, timeoutMs: options.timeoutMs ?? 15000, minTlsVersion: null, ciphers: null, customCa: !!options.ca },
    ok: true, failedStep: null, verdict: { code: 'DIAGNOSE_OK', message: 'ok', remediation: '' }, exitCode: 0, steps: [], totalMs: 1,
  };
}

describe('endpoint service', () => {
  let db: Kysely<Database>;
  const probes: DiagnoseOptions[] = [];
  let nextReport: ((o: DiagnoseOptions) => DiagnoseReport) | null = null;
  const service = () => createEndpointService({
    db,
    secrets: openSecretBox({ statePath: ':memory:', env: { MAILSHIFT_SECRET_KEY: KEY_HEX } }),
    probe: async (o) => { probes.push(o); return (nextReport ?? okReport)(o); },
    now: () => 1_700_000_000_000,
  });
  const base: EndpointInput = { name: 'old-imap', host: 'imap.contoso.com' };

  before(async () => { db = await openSqliteStore(':memory:'); });
  after(async () => { await db.destroy(); });

  it('creates with the defaults (993/ssl, 20 and 10) after a passing test', async () => {
    const { endpoint, test } = await service().createEndpoint(base);
    assert.equal(endpoint.port, 993);
    assert.equal(endpoint.security, 'ssl');
    assert.equal(endpoint.maxConcurrentMigrations, 20);
    assert.equal(endpoint.maxConcurrentIncrementalSyncs, 10);
    assert.equal(endpoint.authentication, 'login');
    assert.equal(test?.ok, true);
    assert.equal(probes.at(-1)?.timeoutMs, 15_000);
    const view = await service().describeEndpoint('OLD-IMAP');
    assert.equal(view.lastTest?.ok, true);
  });

  it('refuses a duplicate name (case-insensitively) with ENDPOINT_EXISTS before testing', async () => {
    const before = probes.length;
    await expectReject(service().createEndpoint({ ...base, name: 'Old-IMAP' }), 'ENDPOINT_EXISTS');
    assert.equal(probes.length, before);
  });

  it('validates every setting', async () => {
    const s = service();
    const cases: Array<[Partial<EndpointInput>, string]> = [
      [{ port: 0 }, 'ENDPOINT_INVALID'],
      [{ port: 65536 }, 'ENDPOINT_INVALID'],
      [{ maxConcurrentMigrations: 0 }, 'ENDPOINT_INVALID'],
      [{ maxConcurrentMigrations: 101 }, 'ENDPOINT_INVALID'],
      [{ maxConcurrentMigrations: 5, maxConcurrentIncrementalSyncs: 6 }, 'ENDPOINT_INVALID'],
      [{ security: 'none' }, 'ENDPOINT_INSECURE_REFUSED'],
      [{ name: ' bad/name' }, 'ENDPOINT_INVALID'],
      [{ host: 'has space' }, 'ENDPOINT_INVALID'],
      [{ admin: { user: 'ma', password: 'pw', format: 'template' } }, 'ENDPOINT_INVALID'],
      [{ admin: { user: 'ma', password: 'pw', format: 'template', loginTemplate: '{bogus}' } }, 'ENDPOINT_INVALID'],
      [{ admin: { user: 'ma', password: '', format: 'dovecot' } }, 'ENDPOINT_INVALID'],
      [{ admin: { user: 'a*ma', password: 'pw', format: 'dovecot' } }, 'ENDPOINT_INVALID'],
      [{ admin: { user: 'ma', password: 'pw', format: 'authzid' }, authentication: 'login' }, 'ENDPOINT_INVALID'],
      [{ authentication: 'xoauth2' }, 'ENDPOINT_INVALID'],
      [{ tls: { caPem: 'not a certificate' } }, 'ENDPOINT_INVALID'],
      [{ tls: { caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } }, 'ENDPOINT_INVALID'],
      [{ security: 'none', allowInsecure: true, acceptUntrustedCertificates: true }, 'ENDPOINT_INVALID'],
    ];
    for (const [patch, code] of cases) await expectReject(s.createEndpoint({ ...base, name: 'v', ...patch }, { verify: false }), code);
    assert.equal((await s.listEndpoints()).length, 1, 'nothing was written');
    const small = await s.createEndpoint({ ...base, name: 'small', maxConcurrentMigrations: 4 }, { verify: false });
    assert.equal(small.endpoint.maxConcurrentIncrementalSyncs, 4, 'the default 10 is capped by the migrations limit');
    const insecure = await s.createEndpoint({ ...base, name: 'plain', security: 'none', allowInsecure: true }, { verify: false });
    assert.equal(insecure.endpoint.port, 143);
    assert.deepEqual((await s.describeEndpoint('plain')).warnings.map((w) => w.code), ['ENDPOINT_UNENCRYPTED']);
    const authz = await s.createEndpoint({ ...base, name: 'authz', admin: { user: 'ma', password: 'pw', format: 'authzid' } }, { verify: false });
    assert.equal(authz.endpoint.authentication, 'plain');
  });

  it('a failing test creates nothing and carries the verdict code, wording and exit class', async () => {
    nextReport = (o) => ({ ...okReport(o), ok: false, failedStep: 'tcp', exitCode: 3,
      verdict: { code: 'CONN_TIMEOUT', message: `The connection to the server ${o.host} timed out after 00:00:15.`, remediation: 'Allow IMAP.' } });
    const err = await expectReject(service().createEndpoint({ ...base, name: 'down' }), 'CONN_TIMEOUT');
    nextReport = null;
    assert.ok(err instanceof EndpointTestFailed);
    assert.equal(err.message, 'The connection to the server imap.contoso.com timed out after 00:00:15.');
    assert.equal(err.remediation, 'Allow IMAP.');
    assert.equal(exitCodeFor(err), 3);
    await expectReject(service().getEndpointByName('down'), 'ENDPOINT_NOT_FOUND');
  });

  it('stores the admin password encrypted and resolves every format to ConnectionSettings', async () => {
    const s = service();
    const { endpoint } = await s.createEndpoint({
      ...base, name: 'src', admin: { user: 'mailadmin', password: 'P@ssw0rd-admin', format: 'dovecot' },
      tls: { minVersion: 'TLSv1.2', servername: 'mail.contoso.com' },
    }, { verify: false });
    const row = await db.selectFrom('endpoints').selectAll().where('id', '=', endpoint.id).executeTakeFirstOrThrow();
    assert.ok(row.admin_password_enc?.startsWith('v1:'));
    assert.ok(!JSON.stringify(row).includes('P@ssw0rd-admin'));
    const settings = await s.connectionFor(endpoint, { user: 'ignored', password: null, mailbox: 'alice@contoso.com' });
    assert.deepEqual(settings, {
      host: 'imap.contoso.com', port: 993, security: 'ssl', loginMethod: 'login', user: 'alice@contoso.com*mailadmin', password: 'P@ssw0rd-admin',
      minTlsVersion: 'TLSv1.2', servername: 'mail.contoso.com', connectTimeoutMs: 15_000,
    });
    const { endpoint: authz } = await s.updateEndpoint('src', { admin: { format: 'authzid' } }, { verify: false });
    const a = await s.connectionFor(authz, { user: 'x', password: null, mailbox: 'alice@contoso.com' });
    assert.equal(a.user, 'mailadmin');
    assert.equal(a.authzid, 'alice@contoso.com');
    assert.equal(a.password, 'P@ssw0rd-admin', 'the stored password survives a format change');
    assert.equal(authz.authentication, 'plain');
    // Without admin: the CSV's credentials, or a clear error.
    const plain = await s.getEndpointByName('old-imap');
    assert.deepEqual(await s.connectionFor(plain, { user: 'bob', password: 'pw-bob', mailbox: 'bob@contoso.com' }),
      { host: 'imap.contoso.com', port: 993, security: 'ssl', loginMethod: 'login', user: 'bob', password: 'pw-bob', connectTimeoutMs: 15_000 });
    await expectReject(s.connectionFor(plain, { user: 'bob', password: null, mailbox: 'bob@contoso.com' }), 'ENDPOINT_CREDENTIALS_MISSING');
    // The wrong key: a clear error, never the password.
    const wrongKey = createEndpointService({ db, secrets: openSecretBox({ statePath: ':memory:', env: { MAILSHIFT_SECRET_KEY: KEY_B64 } }) });
    const err = await expectReject(wrongKey.connectionFor(authz, { user: 'x', password: null, mailbox: 'alice@contoso.com' }), 'SECRET_KEY_MISMATCH');
    assert.ok(!err.message.includes('P@ssw0rd-admin'));
  });

  it('test with a mailbox signs in through the admin format; without one it does not try', async () => {
    const s = service();
    const r1 = await s.testEndpoint('src', { mailbox: 'alice@contoso.com' });
    assert.equal(r1.login, 'tested');
    assert.equal(probes.at(-1)?.user, 'mailadmin');
    assert.equal(probes.at(-1)?.authzid, 'alice@contoso.com');
    assert.ok(!JSON.stringify(r1).includes('P@ssw0rd-admin'));
    const r2 = await s.testEndpoint('src');
    assert.equal(r2.login, 'skipped');
    assert.equal(probes.at(-1)?.user, undefined);
    assert.match(r2.notes.join(' '), /--mailbox/);
  });

  it('set changes only what is given, tests again only when the server changes, rename keeps names unique', async () => {
    const s = service();
    const before = probes.length;
    const { endpoint, test } = await s.updateEndpoint('old-imap', { maxConcurrentMigrations: 5 });
    assert.equal(test, null);
    assert.equal(probes.length, before);
    assert.equal(endpoint.maxConcurrentMigrations, 5);
    assert.equal(endpoint.maxConcurrentIncrementalSyncs, 5);
    const moved = await s.updateEndpoint('old-imap', { host: 'imap2.contoso.com' });
    assert.equal(moved.test?.ok, true);
    assert.equal(probes.length, before + 1);
    await expectReject(s.updateEndpoint('old-imap', { name: 'SRC' }), 'ENDPOINT_EXISTS');
    await expectReject(s.updateEndpoint('old-imap', { security: 'none' }), 'ENDPOINT_INSECURE_REFUSED');
    const renamed = await s.updateEndpoint('old-imap', { name: 'legacy' });
    assert.equal(renamed.endpoint.name, 'legacy');
    await expectReject(s.updateEndpoint('nope', {}), 'ENDPOINT_NOT_FOUND');
  });

  it('COMPRESS=DEFLATE per endpoint: off by default, stored, in the connection settings, switched without a re-test', async () => {
    const s = service();
    const { endpoint } = await s.createEndpoint({ name: 'far-away', host: 'imap.far.example', admin: { user: 'ma', password: 'pw', format: 'dovecot' }, compress: true });
    assert.equal(endpoint.compress, true);
    assert.equal((await s.describeEndpoint('far-away')).endpoint.compress, true, 'read back from the database');
    assert.equal((await s.connectionFor(endpoint, { user: 'x', password: null, mailbox: 'alice@far.example' })).compress, true);
    const before = probes.length;
    const off = await s.updateEndpoint('far-away', { compress: false });
    assert.equal(off.endpoint.compress, false);
    assert.equal(off.test, null, 'how the server is reached did not change');
    assert.equal(probes.length, before);
    assert.equal((await s.connectionFor(off.endpoint, { user: 'x', password: null, mailbox: 'alice@far.example' })).compress, undefined);
    assert.equal((await s.createEndpoint({ name: 'near-by', host: 'imap.near.example' })).endpoint.compress, false);
  });

  it('remove is refused with ENDPOINT_IN_USE while a batch references the endpoint', async () => {
    const s = service();
    const src = await s.getEndpointByName('src');
    const legacy = await s.getEndpointByName('legacy');
    const tables = (await db.introspection.getTables()).map((t) => t.name);
    if (tables.includes('batches')) {
      await sql`insert into batches (name, source_endpoint_id, target_endpoint_id, status, exclude_folders, max_message_size, auto_start, notify, incremental_interval_ms, warnings, created_at, updated_at)
        values ('Batch1', ${legacy.id}, ${src.id}, 'Created', '[]', 1, 0, '[]', 1, '[]', 1, 1)`.execute(db);
      const err = await expectReject(s.removeEndpoint('src'), 'ENDPOINT_IN_USE');
      assert.match(err.message, /"Batch1"/);
      await expectReject(s.removeEndpoint('legacy'), 'ENDPOINT_IN_USE');
      await sql`delete from batches`.execute(db);
    }
    assert.equal((await s.removeEndpoint('src')).name, 'src');
    await expectReject(s.removeEndpoint('src'), 'ENDPOINT_NOT_FOUND');
  });
});
