/**
 * The REST API through fastify's inject, without mail servers (the connection test's probe is
 * substituted): every route, authentication failures, the error shape and HTTP statuses, 404s,
 * illegal transitions (409), CSV validation errors with their rows, paging and filtering of a
 * 50,000-user batch, reports, the OpenAPI document and docs page, static files, the admin token.
 * Every response body is kept and checked at the end for the passwords the tests sent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { openBatchContext } from '../src/app/batch-wiring.js';
import type { BatchContext } from '../src/app/batch-context.js';
import { createEndpointService } from '../src/app/endpoint-service.js';
import { createApiServer } from '../src/api/create-api-server.js';
import { adminAuthFromToken, resolveAdminAuth, sha256Hex, tokenFilePath, TICKET_TTL_MS } from '../src/api/admin-token.js';
import { resolveStatic } from '../src/api/static-files.js';
import type { DiagnoseOptions, DiagnoseReport } from '../src/diagnose/diagnose-types.js';
import { ERROR_CATALOG } from '../src/domain/errors.js';
import { warningsColumn } from '../src/store/batch-schema.js';

const TOKEN = 'test-admin-token-0123456789';
const ADMIN_PASSWORD = 'Adm1n-S3cret-pw';
const CSV_PASSWORD = 'Csv-Us3r-pw-xyz';
const TARGET_PASSWORD = 'Tgt-Us3r-pw-abc';
const DIAG_PASSWORD = 'Diag-pw-987654';
const PASSWORDS = [ADMIN_PASSWORD, CSV_PASSWORD, TARGET_PASSWORD, DIAG_PASSWORD];
const AUTH = { authorization: `Bearer ${TOKEN}` };

const work = mkdtempSync(join(tmpdir(), 'ms-api-'));
const webRoot = join(work, 'web-dist');
let ctx: BatchContext;
let app: FastifyInstance;
const bodies: string[] = [];
const probes: DiagnoseOptions[] = [];
let failNextProbe = false;

function report(o: DiagnoseOptions, ok: boolean): DiagnoseReport {
  return {
    target: { host: o.host, port: o.port, security: o.security, user: o.user ?? null, authzid: o.authzid ?? null, servername: null, timeoutMs: o.timeoutMs ?? 15000, minTlsVersion: null, ciphers: null, customCa: !!o.ca },
    ok,
    failedStep: ok ? null : 'tcp',
    verdict: ok
      ? { code: 'DIAGNOSE_OK', message: `The server works${o.user ? '' : ' (no login was tried: pass --user to test credentials)'}.`, remediation: '' }
      : { code: 'CONN_REFUSED', message: `The connection to the server ${o.host} could not be completed.`, remediation: 'Start the IMAP service.' },
    exitCode: ok ? 0 : 3,
    steps: [
      { step: 'dns', status: 'pass', ms: 1, summary: `${o.host} resolves`, details: { addresses: ['127.0.0.1'] }, notes: [] },
      ok
        ? { step: 'tcp', status: 'pass', ms: 1, summary: 'connected', details: {}, notes: [{ code: 'X', severity: 'info', message: 'note', appliesTo: 'both' }] }
        : { step: 'tcp', status: 'fail', ms: 1, summary: 'refused', details: {}, notes: [], verdict: { code: 'CONN_REFUSED', message: 'refused', remediation: 'start it' } },
    ],
    totalMs: 2,
  };
}

async function call(method: InjectOptions['method'], url: string, payload?: unknown, headers: Record<string, string> = AUTH) {
  const res = await app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as InjectOptions['payload'] } : {}) });
  bodies.push(res.body);
  return { status: res.statusCode, headers: res.headers, body: res.body, json: () => JSON.parse(res.body) as any };
}

function assertError(r: { status: number; json: () => any }, status: number, code: string): any {
  assert.equal(r.status, status, JSON.stringify(r.json()));
  const body = r.json();
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0);
  assert.equal(typeof body.remediation, 'string');
  assert.ok(body.remediation.length > 0);
  return body;
}

function csv(rows: string[][]): string {
  return rows.map((r) => r.join(',')).join('\r\n') + '\r\n';
}

before(async () => {
  mkdirSync(join(webRoot, 'assets'), { recursive: true });
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>dash</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(webRoot, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(webRoot, 'assets', 'app.css'), 'body{}');
  writeFileSync(join(webRoot, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(work, 'secret.txt'), 'outside the web root');
  ctx = await openBatchContext({ statePath: join(work, 'state.sqlite'), env: { MAILSHIFT_SECRET_KEY: 'b'.repeat(64) } });
  const endpoints = createEndpointService({
    db: ctx.db, secrets: ctx.secrets,
    probe: async (o) => { probes.push(o); const ok = !failNextProbe; failNextProbe = false; return report(o, ok); },
  });
  ({ app } = await createApiServer({
    ctx, endpoints, auth: adminAuthFromToken(TOKEN), webRoot,
    diagnose: async (o) => { probes.push(o); return report(o, o.host !== 'down.example'); },
  }));
});

after(async () => {
  await app.close();
  await ctx.close();
});

describe('authentication', () => {
  it('refuses every API route without the token, with a wrong token, or a malformed header (401, WWW-Authenticate)', async () => {
    const routes: Array<[InjectOptions['method'], string]> = [
      ['GET', '/api/info'], ['GET', '/api/endpoints'], ['GET', '/api/endpoints/x'], ['POST', '/api/endpoints'], ['PATCH', '/api/endpoints/x'],
      ['DELETE', '/api/endpoints/x'], ['POST', '/api/endpoints/x/test'], ['POST', '/api/diagnose'], ['GET', '/api/batches'], ['GET', '/api/batches/x'],
      ['POST', '/api/batches'], ['POST', '/api/batches/validate'], ['POST', '/api/batches/x/start'], ['POST', '/api/batches/x/stop'],
      ['POST', '/api/batches/x/complete'], ['POST', '/api/batches/x/retry'], ['POST', '/api/batches/x/sync-now'], ['POST', '/api/batches/x/users'],
      ['DELETE', '/api/batches/x'], ['GET', '/api/batches/x/users'], ['GET', '/api/batches/x/users/a@b.c'], ['GET', '/api/batches/x/report.csv'],
      ['GET', '/api/batches/x/report.json'], ['POST', '/api/events/ticket'], ['GET', '/api/events'], ['GET', '/api/openapi.json'], ['GET', '/api/no-such-route'],
    ];
    for (const [method, url] of routes) {
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
        const r = await call(method, url, method === 'GET' || method === 'DELETE' ? undefined : {}, headers);
        assertError(r, 401, 'API_UNAUTHORIZED');
        if (url !== '/api/events') assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      }
    }
  });

  it('accepts the token (case-insensitive scheme) and serves /api/docs without one', async () => {
    assert.equal((await call('GET', '/api/info', undefined, { authorization: `bearer ${TOKEN}` })).status, 200);
    const info = (await call('GET', '/api/info')).json();
    assert.equal(info.name, 'mailshift');
    assert.equal(info.runner, false);
    const docs = await call('GET', '/api/docs', undefined, {});
    assert.equal(docs.status, 200);
    assert.match(String(docs.headers['content-type']), /text\/html/);
    assert.match(docs.body, /\/api\/batches\/\{name\}\/users/);
    assert.doesNotMatch(docs.body, /<script/);
  });

  it('issues event tickets that expire', () => {
    const auth = adminAuthFromToken(TOKEN);
    const { ticket, expiresAt } = auth.issueTicket(1000);
    assert.equal(expiresAt, 1000 + TICKET_TTL_MS);
    assert.ok(auth.verifyTicket(ticket, 2000));
    assert.ok(auth.verifyTicket(ticket, 3000), 'reusable within its lifetime (EventSource reconnects)');
    assert.ok(!auth.verifyTicket(ticket, expiresAt));
    assert.ok(!auth.verifyTicket('nope', 2000));
    assert.ok(!auth.verify(ticket), 'a ticket is not the token');
  });
});

describe('admin token', () => {
  it('is created once (hash only, mode 0600), reused, replaced with renew; the environment wins', () => {
    const statePath = join(work, 'tok', 'state.sqlite');
    const first = resolveAdminAuth({ statePath, env: {} });
    assert.ok(first.createdToken && first.createdToken.length >= 32);
    const file = tokenFilePath(statePath);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), sha256Hex(first.createdToken));
    assert.ok(!readFileSync(file, 'utf8').includes(first.createdToken));
    const again = resolveAdminAuth({ statePath, env: {} });
    assert.equal(again.createdToken, null);
    assert.ok(again.auth.verify(first.createdToken));
    assert.ok(!again.auth.verify(`${first.createdToken}x`));
    const renewed = resolveAdminAuth({ statePath, env: {}, renew: true });
    assert.ok(renewed.createdToken && renewed.createdToken !== first.createdToken);
    assert.ok(!resolveAdminAuth({ statePath, env: {} }).auth.verify(first.createdToken));
    const fromEnv = resolveAdminAuth({ statePath, env: { MAILSHIFT_ADMIN_TOKEN: 'an-env-token-long-enough' } });
    assert.equal(fromEnv.createdToken, null);
    assert.ok(fromEnv.auth.verify('an-env-token-long-enough'));
    assert.throws(() => resolveAdminAuth({ statePath, env: { MAILSHIFT_ADMIN_TOKEN: 'short' } }), (e: any) => e.code === 'API_ADMIN_TOKEN_INVALID');
    chmodSync(file, 0o644);
    assert.throws(() => resolveAdminAuth({ statePath, env: {} }), (e: any) => e.code === 'API_ADMIN_TOKEN_INVALID');
  });
});

describe('errors', () => {
  it('answers unknown API routes with 404 API_NOT_FOUND and invalid bodies with 400 API_VALIDATION', async () => {
    assertError(await call('GET', '/api/nothing/here'), 404, 'API_NOT_FOUND');
    assertError(await call('PUT', '/api/batches'), 404, 'API_NOT_FOUND');
    const unknown = assertError(await call('POST', '/api/endpoints', { name: 'x', host: 'h', bogus: true }), 400, 'API_VALIDATION');
    assert.match(unknown.message, /bogus/);
    assertError(await call('POST', '/api/endpoints', { host: 'h' }), 400, 'API_VALIDATION');
    assertError(await call('POST', '/api/endpoints', { name: 'x', host: 'h', port: 70000 }), 400, 'API_VALIDATION');
    assertError(await call('POST', '/api/endpoints', { name: 'x', host: 'h', security: 'tls13' }), 400, 'API_VALIDATION');
    assertError(await call('POST', '/api/endpoints', '{"name":', { ...AUTH, 'content-type': 'application/json' }), 400, 'API_VALIDATION');
    assertError(await call('POST', '/api/endpoints', 'name=x', { ...AUTH, 'content-type': 'text/plain' }), 400, 'API_VALIDATION');
    assertError(await call('GET', '/api/batches/x/users?limit=100000'), 400, 'API_VALIDATION');
    assertError(await call('GET', '/api/batches/x/users?sort=size'), 400, 'API_VALIDATION');
  });

  it('refuses a body over 12 MB with 413', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/batches/validate', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ csv: 'x'.repeat(13 * 1024 * 1024) }) });
    assert.equal(r.statusCode, 413);
    assert.equal(JSON.parse(r.body).code, 'API_PAYLOAD_TOO_LARGE');
  });

  it('uses only catalog codes', async () => {
    for (const code of ['API_UNAUTHORIZED', 'API_NOT_FOUND', 'API_VALIDATION', 'API_CSV_INVALID', 'API_PAYLOAD_TOO_LARGE', 'BATCH_USER_NOT_FOUND']) {
      assert.ok(code in ERROR_CATALOG, code);
    }
  });
});

describe('endpoints', () => {
  it('creates after a passing connection test; the admin password is write-only', async () => {
    const r = await call('POST', '/api/endpoints', {
      name: 'old-imap', host: 'imap.old.example', maxConcurrentMigrations: 5,
      admin: { user: 'mailadmin', password: ADMIN_PASSWORD, format: 'dovecot' }, testMailbox: 'alice@old.example',
    });
    assert.equal(r.status, 201, r.body);
    const { endpoint, test } = r.json();
    assert.equal(endpoint.name, 'old-imap');
    assert.equal(endpoint.port, 993);
    assert.deepEqual(endpoint.admin, { user: 'mailadmin', format: 'dovecot', loginTemplate: null, passwordSet: true });
    assert.equal(endpoint.maxConcurrentMigrations, 5);
    assert.equal(test.ok, true);
    assert.equal(test.login, 'tested');
    assert.equal(test.loginUser, 'alice@old.example*mailadmin');
    assert.equal(test.report.steps.length, 2);
    assert.equal(probes.at(-1)?.password, ADMIN_PASSWORD, 'the probe got the password; the response did not');
    assert.ok(!r.body.includes(ADMIN_PASSWORD));
  });

  it('creates without a test (skipVerification), with TLS settings, warnings and the CA count (not the PEM)', async () => {
    const before = probes.length;
    const r = await call('POST', '/api/endpoints', {
      name: 'new imap', host: 'imap.new.example', port: 1993, skipVerification: true, acceptUntrustedCertificates: true,
      tls: { minVersion: 'TLSv1.2', servername: 'imap.example' },
    });
    assert.equal(r.status, 201, r.body);
    assert.equal(probes.length, before);
    const { endpoint, test } = r.json();
    assert.equal(test, null);
    assert.equal(endpoint.tls.minVersion, 'TLSv1.2');
    assert.equal(endpoint.tls.caCertificates, 0);
    assert.ok(!('caPem' in endpoint.tls));
    assert.equal(endpoint.warnings[0].code, 'ENDPOINT_UNTRUSTED_CERTIFICATES_ACCEPTED');
  });

  it('answers 422 with the test result when the connection test fails, and creates nothing', async () => {
    failNextProbe = true;
    const body = assertError(await call('POST', '/api/endpoints', { name: 'broken', host: 'imap.broken.example' }), 422, 'CONN_REFUSED');
    assert.equal(body.test.ok, false);
    assert.equal(body.test.verdict.code, 'CONN_REFUSED');
    assertError(await call('GET', '/api/endpoints/broken'), 404, 'ENDPOINT_NOT_FOUND');
  });

  it('refuses duplicates (409), invalid settings (400), and insecure without allowInsecure (400)', async () => {
    assertError(await call('POST', '/api/endpoints', { name: 'OLD-IMAP', host: 'h', skipVerification: true }), 409, 'ENDPOINT_EXISTS');
    assertError(await call('POST', '/api/endpoints', { name: 'bad/name', host: 'h', skipVerification: true }), 400, 'ENDPOINT_INVALID');
    assertError(await call('POST', '/api/endpoints', { name: 'plain', host: 'h', security: 'none', skipVerification: true }), 400, 'ENDPOINT_INSECURE_REFUSED');
    assertError(await call('POST', '/api/endpoints', { name: 'tpl', host: 'h', skipVerification: true, admin: { user: 'a', password: ADMIN_PASSWORD, format: 'template' } }), 400, 'ENDPOINT_INVALID');
  });

  it('lists, gets (404 for unknown), updates, renames and tests', async () => {
    const list = (await call('GET', '/api/endpoints')).json();
    assert.deepEqual(list.endpoints.map((e: any) => e.name).sort(), ['new imap', 'old-imap']);
    assertError(await call('GET', '/api/endpoints/nope'), 404, 'ENDPOINT_NOT_FOUND');
    const one = (await call('GET', `/api/endpoints/${encodeURIComponent('new imap')}`)).json();
    assert.equal(one.host, 'imap.new.example');

    const patched = await call('PATCH', '/api/endpoints/old-imap', { maxConcurrentMigrations: 3, admin: { password: `${ADMIN_PASSWORD}-2` } });
    assert.equal(patched.status, 200, patched.body);
    assert.equal(patched.json().endpoint.maxConcurrentMigrations, 3);
    assert.equal(patched.json().test.ok, true, 'a new password is tested');
    failNextProbe = true;
    assertError(await call('PATCH', '/api/endpoints/old-imap', { host: 'elsewhere.example' }), 422, 'CONN_REFUSED');
    assert.equal((await call('GET', '/api/endpoints/old-imap')).json().host, 'imap.old.example', 'nothing changed');
    assertError(await call('PATCH', '/api/endpoints/nope', { port: 1 }), 404, 'ENDPOINT_NOT_FOUND');
    assertError(await call('PATCH', '/api/endpoints/old-imap', { name: 'new imap' }), 409, 'ENDPOINT_EXISTS');
    const renamed = await call('PATCH', `/api/endpoints/${encodeURIComponent('new imap')}`, { name: 'new-imap', admin: { user: 'admin', password: ADMIN_PASSWORD }, skipVerification: true });
    assert.equal(renamed.status, 200, renamed.body);
    assert.equal(renamed.json().endpoint.name, 'new-imap');
    assert.equal(renamed.json().endpoint.admin.passwordSet, true);

    const tested = await call('POST', '/api/endpoints/old-imap/test', { mailbox: 'bob@old.example' });
    assert.equal(tested.status, 200, tested.body);
    assert.equal(tested.json().ok, true);
    assert.equal(tested.json().loginUser, 'bob@old.example*mailadmin');
    const bare = await call('POST', '/api/endpoints/old-imap/test');
    assert.equal(bare.status, 200, 'no body is fine');
    assert.equal(bare.json().login, 'skipped');
    assert.equal(bare.json().verdict.message, 'The server works (no login was tried: give a mailbox or user to test sign-in).', 'API wording, not the CLI\'s');
    assert.ok(!bare.body.includes('--user') && !bare.body.includes('--mailbox'), bare.body);
    failNextProbe = true;
    const failed = await call('POST', '/api/endpoints/old-imap/test', {});
    assert.equal(failed.status, 200);
    assert.equal(failed.json().ok, false);
    assert.equal((await call('GET', '/api/endpoints/old-imap')).json().lastTest.code, 'CONN_REFUSED');
    assertError(await call('POST', '/api/endpoints/nope/test', {}), 404, 'ENDPOINT_NOT_FOUND');
  });

  it('diagnoses any server and never returns the password', async () => {
    const r = await call('POST', '/api/diagnose', { host: 'imap.any.example', user: 'u', password: DIAG_PASSWORD, security: 'starttls' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json().ok, true);
    assert.equal(r.json().target.port, 143);
    assert.equal(probes.at(-1)?.password, DIAG_PASSWORD);
    assert.equal(probes.at(-1)?.skipSize, true);
    const down = await call('POST', '/api/diagnose', { host: 'down.example' });
    assert.equal(down.status, 200);
    assert.equal(down.json().failedStep, 'tcp');
    assert.equal(down.json().steps[1].verdict.code, 'CONN_REFUSED');
    assertError(await call('POST', '/api/diagnose', { port: 993 }), 400, 'API_VALIDATION');
    const anonymous = await call('POST', '/api/diagnose', { host: 'imap.any.example' });
    assert.equal(anonymous.json().verdict.message, 'The server works (no login was tried: give a user and password to test sign-in).');
  });

  it('accepts null TLS fields as "the default" on create and on change', async () => {
    const created = await call('POST', '/api/endpoints', {
      name: 'tls-null', host: 'imap.tls.example', skipVerification: true,
      tls: { minVersion: null, ciphers: null, caPem: null, servername: null },
    });
    assert.equal(created.status, 201, created.body);
    assert.deepEqual(created.json().endpoint.tls, { minVersion: null, ciphers: null, servername: null, caCertificates: 0 });
    const set = await call('PATCH', '/api/endpoints/tls-null', { tls: { minVersion: 'TLSv1.2', servername: 'imap.example' }, skipVerification: true });
    assert.equal(set.status, 200, set.body);
    assert.equal(set.json().endpoint.tls.minVersion, 'TLSv1.2');
    const reset = await call('PATCH', '/api/endpoints/tls-null', { tls: { minVersion: null }, skipVerification: true });
    assert.equal(reset.status, 200, reset.body);
    assert.deepEqual(reset.json().endpoint.tls, { minVersion: null, ciphers: null, servername: 'imap.example', caCertificates: 0 }, 'only minVersion went back to the default');
    assertError(await call('PATCH', '/api/endpoints/tls-null', { tls: { minVersion: 'SSLv3' } }), 400, 'API_VALIDATION');
    assert.equal((await call('DELETE', '/api/endpoints/tls-null')).status, 200);
  });
});

describe('batches', () => {
  const header = ['EmailAddress', 'UserName', 'Password'];
  const good = csv([header, ['alice@new.example', 'alice', CSV_PASSWORD], ['bob@new.example', 'bob', CSV_PASSWORD]]);

  it('validates a CSV and lists every problem with its row; nothing is created', async () => {
    const bad = csv([header, ['alice@new.example', 'alice', CSV_PASSWORD], ['not-an-address', 'x', CSV_PASSWORD], ['carol@new.example', 'carol'], ['alice@new.example', 'a2', CSV_PASSWORD]]);
    const v = await call('POST', '/api/batches/validate', { csv: bad });
    assert.equal(v.status, 200);
    assert.equal(v.json().valid, false);
    const rows = v.json().errors.map((e: any) => e.row).sort();
    assert.deepEqual(rows, [3, 4, 5]);
    assert.ok(v.json().errors.some((e: any) => /Row 4 has the wrong number of columns/.test(e.message)));

    const created = await call('POST', '/api/batches', { name: 'Bad', csv: bad, source: 'old-imap', target: 'new-imap', probeSource: false });
    const body = assertError(created, 400, 'API_CSV_INVALID');
    assert.deepEqual(body.errors.map((e: any) => e.row).sort(), [3, 4, 5]);
    assert.ok(body.errors.every((e: any) => e.code && e.message && e.remediation));
    assertError(await call('GET', '/api/batches/Bad'), 404, 'BATCH_NOT_FOUND');
    const empty = assertError(await call('POST', '/api/batches', { name: 'Empty', csv: '', source: 'old-imap', target: 'new-imap' }), 400, 'API_CSV_INVALID');
    assert.equal(empty.errors[0].code, 'CSV_EMPTY');

    const ok = (await call('POST', '/api/batches/validate', { csv: good, target: 'new-imap' })).json();
    assert.deepEqual(ok, { valid: true, users: 2, errors: [] });
  });

  it('needs target credentials for every row when the target has no admin', async () => {
    await call('POST', '/api/endpoints', { name: 'no-admin', host: 'h.example', skipVerification: true });
    const v = (await call('POST', '/api/batches/validate', { csv: good, target: 'no-admin' })).json();
    assert.equal(v.valid, false);
    assert.deepEqual(v.errors.map((e: any) => [e.code, e.row]), [['BATCH_NO_TARGET_CREDENTIALS', 2], ['BATCH_NO_TARGET_CREDENTIALS', 3]]);
    assertError(await call('POST', '/api/batches/validate', { csv: good, target: 'nope' }), 404, 'ENDPOINT_NOT_FOUND');
  });

  it('creates a batch and shows it (counts, settings, allowed commands); names are unique', async () => {
    const withTarget = csv([[...header, 'TargetUserName', 'TargetPassword'], ['alice@new.example', 'alice', CSV_PASSWORD, 'alice', TARGET_PASSWORD], ['bob@new.example', 'bob', CSV_PASSWORD, 'bob', TARGET_PASSWORD]]);
    const r = await call('POST', '/api/batches', {
      name: 'Wave1', csv: withTarget, source: 'old-imap', target: 'new-imap', excludeFolders: ['#JunkEmail#'], since: '2020-01-01',
      notify: ['admin@new.example'], incrementalIntervalMs: 3_600_000, probeSource: false,
    });
    assert.equal(r.status, 201, r.body);
    const { batch, users } = r.json();
    assert.equal(users, 2);
    assert.equal(batch.status, 'Created');
    assert.equal(batch.source, 'old-imap');
    assert.deepEqual(batch.counts, { total: 2, synced: 0, finalized: 0, failed: 0, syncing: 0, queued: 2, stopped: 0, byStatus: { Queued: 2 } });
    assert.deepEqual(batch.allowedCommands, ['start', 'remove', 'add-users']);
    assert.deepEqual(batch.settings.excludeFolders, ['#JunkEmail#']);
    assert.equal(batch.settings.since, Date.UTC(2020, 0, 1));
    assert.equal(batch.settings.maxMessageSize, 35 * 1024 * 1024);
    assert.equal(batch.settings.incrementalIntervalMs, 3_600_000);
    assertError(await call('POST', '/api/batches', { name: 'wave1', csv: good, source: 'old-imap', target: 'new-imap', probeSource: false }), 409, 'BATCH_EXISTS');
    assertError(await call('POST', '/api/batches', { name: 'bad name', csv: good, source: 'old-imap', target: 'new-imap', probeSource: false }), 400, 'BATCH_INVALID_NAME');
    assertError(await call('POST', '/api/batches', { name: 'W2', csv: good, source: 'nope', target: 'new-imap', probeSource: false }), 404, 'ENDPOINT_NOT_FOUND');
    assertError(await call('POST', '/api/batches', { name: 'W2', csv: good, source: 'old-imap', target: 'new-imap', since: '2020-02-31', probeSource: false }), 400, 'API_VALIDATION');
    assertError(await call('POST', '/api/batches', { name: 'W2', csv: good, source: 'old-imap', target: 'new-imap', notify: ['nobody'] }), 400, 'API_VALIDATION');
    const detail = (await call('GET', '/api/batches/WAVE1')).json();
    assert.equal(detail.name, 'Wave1');
    assert.deepEqual(detail.settings.notify, ['admin@new.example']);
    const list = (await call('GET', '/api/batches')).json();
    assert.deepEqual(list.batches.map((b: any) => b.name), ['Wave1']);
    assert.ok(!('settings' in list.batches[0]));
    assertError(await call('DELETE', '/api/endpoints/old-imap'), 409, 'ENDPOINT_IN_USE');
    assert.deepEqual((await call('GET', '/api/endpoints/old-imap')).json().batches, ['Wave1']);
  });

  it('runs the commands the status allows and refuses the others with 409', async () => {
    const complete = assertError(await call('POST', '/api/batches/Wave1/complete'), 409, 'BATCH_ILLEGAL_TRANSITION');
    assert.match(complete.message, /is Created: "complete" is not possible now/);
    assertError(await call('POST', '/api/batches/Wave1/stop'), 409, 'BATCH_ILLEGAL_TRANSITION');
    assertError(await call('POST', '/api/batches/Wave1/sync-now'), 409, 'BATCH_ILLEGAL_TRANSITION');
    assertError(await call('POST', '/api/batches/Wave1/retry'), 409, 'BATCH_ILLEGAL_TRANSITION');
    assertError(await call('POST', '/api/batches/Nope/start'), 404, 'BATCH_NOT_FOUND');
    const started = await call('POST', '/api/batches/Wave1/start');
    assert.equal(started.status, 200, started.body);
    assert.equal(started.json().batch.status, 'Starting');
    assert.equal(started.json().affected, null);
    assertError(await call('POST', '/api/batches/Wave1/start'), 409, 'BATCH_ILLEGAL_TRANSITION');
    const stopped = (await call('POST', '/api/batches/Wave1/stop')).json();
    assert.equal(stopped.batch.status, 'Stopped', 'no runner holds a user: stopped at once');
    assert.equal(stopped.batch.counts.stopped, 2);
    assert.deepEqual(stopped.batch.allowedCommands, ['start', 'remove', 'add-users']);
  });

  it('adds users from a CSV (refusing addresses already there and CSV errors)', async () => {
    const more = csv([['EmailAddress', 'UserName', 'Password', 'TargetUserName', 'TargetPassword'], ['carol@new.example', 'carol', CSV_PASSWORD, 'carol', TARGET_PASSWORD]]);
    const added = await call('POST', '/api/batches/Wave1/users', { csv: more });
    assert.equal(added.status, 201, added.body);
    assert.equal(added.json().added, 1);
    assert.equal(added.json().batch.counts.total, 3);
    assertError(await call('POST', '/api/batches/Wave1/users', { csv: more }), 409, 'BATCH_USER_EXISTS');
    const bad = assertError(await call('POST', '/api/batches/Wave1/users', { csv: 'EmailAddress,UserName\nx@y.z,x\n' }), 400, 'API_CSV_INVALID');
    assert.equal(bad.errors[0].code, 'CSV_COLUMN_MISSING');
  });

  it('pages, filters and searches users in the database; one user with skipped items; 404s', async () => {
    const page = (await call('GET', '/api/batches/Wave1/users?limit=2')).json();
    assert.equal(page.total, 3);
    assert.equal(page.limit, 2);
    assert.deepEqual(page.users.map((u: any) => u.emailAddress), ['alice@new.example', 'bob@new.example']);
    assert.deepEqual(Object.keys(page.users[0]).sort(), ['attempts', 'bytesSynced', 'emailAddress', 'error', 'itemsPerSecond', 'itemsSkipped', 'itemsSynced', 'itemsTotal', 'lastSyncAt', 'nextSyncAt', 'row', 'running', 'status', 'syncStartedAt', 'userName', 'warnings'].sort());
    assert.equal(page.users[0].itemsTotal, null, 'not counted yet');
    assert.equal(page.users[0].itemsPerSecond, null);
    // What the runner writes while alice syncs (live counters) and bob after his sync (a stale rate).
    const batchRow = await ctx.repo.getBatch('Wave1');
    const alice = await ctx.db.selectFrom('batch_users').selectAll().where('batch_id', '=', batchRow.id).where('email_address', '=', 'alice@new.example').executeTakeFirstOrThrow();
    await ctx.db.updateTable('batch_users').set({ items_total: 40, items_per_second: 12.5, lease_owner: 'test:1:x' }).where('id', '=', alice.id).execute();
    await ctx.db.updateTable('batch_users').set({ items_total: 7, items_per_second: 3 }).where('batch_id', '=', batchRow.id).where('email_address', '=', 'bob@new.example').execute();
    const live = (await call('GET', '/api/batches/Wave1/users?limit=2')).json();
    assert.deepEqual(live.users.map((u: any) => [u.itemsTotal, u.itemsPerSecond, u.running]), [[40, 12.5, true], [7, null, false]], 'a rate only while running');
    const liveOne = (await call('GET', '/api/batches/Wave1/users/alice@new.example')).json();
    assert.equal(liveOne.itemsTotal, 40);
    assert.equal(liveOne.itemsPerSecond, 12.5);
    await ctx.db.updateTable('batch_users').set({ items_per_second: null, lease_owner: alice.lease_owner }).where('id', '=', alice.id).execute();
    const next = (await call('GET', '/api/batches/Wave1/users?limit=2&offset=2')).json();
    assert.deepEqual(next.users.map((u: any) => u.emailAddress), ['carol@new.example']);
    const queued = (await call('GET', '/api/batches/Wave1/users?status=Queued')).json();
    assert.deepEqual(queued.users.map((u: any) => u.emailAddress), ['carol@new.example']);
    const search = (await call('GET', '/api/batches/Wave1/users?q=BO')).json();
    assert.deepEqual(search.users.map((u: any) => u.emailAddress), ['bob@new.example']);
    const wild = (await call('GET', '/api/batches/Wave1/users?q=%25')).json();
    assert.equal(wild.total, 0, '% is matched literally');
    assert.equal((await call('GET', '/api/batches/Wave1/users?warned=true')).json().total, 0, 'no sync has warned yet');
    await ctx.db.updateTable('batch_users').set({ warnings: warningsColumn(['Both "Sent" and "Sent Items" map to "Sent Items"; "Sent Items" goes to "Sent Items (Sent Items)" instead.']) })
      .where('batch_id', '=', batchRow.id).where('email_address', '=', 'carol@new.example').execute();
    const warned = (await call('GET', '/api/batches/Wave1/users?warned=true')).json();
    assert.deepEqual(warned.users.map((u: any) => [u.emailAddress, u.warnings.length]), [['carol@new.example', 1]]);
    assert.equal((await call('GET', '/api/batches/Wave1/users?warned=false')).json().total, 3, 'warned=false filters nothing');
    const one = (await call('GET', '/api/batches/Wave1/users/ALICE@new.example')).json();
    assert.equal(one.emailAddress, 'alice@new.example');
    assert.deepEqual(one.skippedItems, []);
    assertError(await call('GET', '/api/batches/Wave1/users/zed@new.example'), 404, 'BATCH_USER_NOT_FOUND');
    assertError(await call('GET', '/api/batches/Nope/users'), 404, 'BATCH_NOT_FOUND');
  });

  it('shows user errors with remediation and skipped items', async () => {
    const batch = await ctx.repo.getBatch('Wave1');
    const now = Date.now();
    await ctx.db.updateTable('batch_users').set({ status: 'Failed', error_code: 'AUTH_FAILED', error_message: ERROR_CATALOG.AUTH_FAILED.message, error_remediation: 'Check the password in the CSV.', updated_at: now })
      .where('batch_id', '=', batch.id).where('email_address', '=', 'bob@new.example').execute();
    const failed = (await call('GET', '/api/batches/Wave1/users?status=Failed,IncrementalFailed')).json();
    assert.equal(failed.total, 1);
    assert.deepEqual(failed.users[0].error, { code: 'AUTH_FAILED', message: ERROR_CATALOG.AUTH_FAILED.message, remediation: 'Check the password in the CSV.' });
    const summary = (await call('GET', '/api/batches/Wave1')).json();
    assert.equal(summary.counts.failed, 1);
  });

  it('downloads the reports (CSV as an attachment, JSON)', async () => {
    const csvReport = await call('GET', '/api/batches/Wave1/report.csv');
    assert.equal(csvReport.status, 200);
    assert.match(String(csvReport.headers['content-type']), /^text\/csv/);
    assert.equal(csvReport.headers['content-disposition'], 'attachment; filename="Wave1-report.csv"');
    assert.match(csvReport.body, /^\uFEFFRecord,EmailAddress,Status/);
    assert.match(csvReport.body, /user,bob@new\.example,Failed,.*AUTH_FAILED/);
    const json = (await call('GET', '/api/batches/Wave1/report.json')).json();
    assert.equal(json.batch.name, 'Wave1');
    assert.equal(json.users.length, 3);
    assert.equal(json.summary.usersWithErrors, 1);
    assertError(await call('GET', '/api/batches/Nope/report.csv'), 404, 'BATCH_NOT_FOUND');
    assertError(await call('GET', '/api/batches/Nope/report.json'), 404, 'BATCH_NOT_FOUND');
  });

  it('removes a batch (and the endpoint it used can then go)', async () => {
    const r = await call('DELETE', '/api/batches/Wave1');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json(), { removed: true });
    assertError(await call('DELETE', '/api/batches/Wave1'), 404, 'BATCH_NOT_FOUND');
    const gone = await call('DELETE', '/api/endpoints/no-admin');
    assert.deepEqual(gone.json(), { removed: 'no-admin' });
    assertError(await call('DELETE', '/api/endpoints/no-admin'), 404, 'ENDPOINT_NOT_FOUND');
  });

  it('handles a 50,000-user batch: counts and pages from the database', { timeout: 120_000 }, async () => {
    const rows = [['EmailAddress', 'UserName', 'Password', 'TargetUserName', 'TargetPassword']];
    for (let i = 0; i < 50_000; i++) rows.push([`user${String(i).padStart(5, '0')}@big.example`, `user${i}`, CSV_PASSWORD, `user${i}`, TARGET_PASSWORD]);
    const created = await call('POST', '/api/batches', { name: 'Big', csv: csv(rows), source: 'old-imap', target: 'new-imap', probeSource: false });
    assert.equal(created.status, 201, created.body.slice(0, 500));
    assert.equal(created.json().users, 50_000);
    const batch = await ctx.repo.getBatch('Big');
    await ctx.db.updateTable('batch_users').set({ status: 'Synced', items_synced: 10, bytes_synced: 1000 }).where('batch_id', '=', batch.id).where('row_number', '<=', 20_001).execute();
    let t = Date.now();
    const list = (await call('GET', '/api/batches')).json();
    const big = list.batches.find((b: any) => b.name === 'Big');
    assert.equal(big.counts.total, 50_000);
    assert.equal(big.counts.synced, 20_000);
    assert.equal(big.itemsSynced, 200_000);
    assert.equal(big.percentSynced, 40);
    const listMs = Date.now() - t;
    t = Date.now();
    const page = (await call('GET', '/api/batches/Big/users?status=Queued&offset=29990&limit=50&sort=email')).json();
    assert.equal(page.total, 30_000);
    assert.equal(page.users.length, 10);
    assert.equal(page.users.at(-1).emailAddress, 'user49999@big.example');
    const search = (await call('GET', '/api/batches/Big/users?q=user4999')).json();
    assert.equal(search.total, 11);
    const pageMs = Date.now() - t;
    assert.ok(listMs < 2000 && pageMs < 2000, `list ${listMs} ms, pages ${pageMs} ms`);
    assert.equal((await call('DELETE', '/api/batches/Big')).status, 200);
  });
});

describe('OpenAPI document and docs page', () => {
  it('describes every route with request and response schemas and shared components', async () => {
    const doc = (await call('GET', '/api/openapi.json')).json();
    assert.equal(doc.openapi, '3.1.0');
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, m]) => Object.entries(m).map(([method, op]) => ({ path, method, op })));
    const names = ops.map((o) => `${o.method.toUpperCase()} ${o.path}`);
    for (const expected of [
      'GET /api/endpoints', 'POST /api/endpoints', 'GET /api/endpoints/{name}', 'PATCH /api/endpoints/{name}', 'DELETE /api/endpoints/{name}',
      'POST /api/endpoints/{name}/test', 'POST /api/diagnose', 'GET /api/batches', 'POST /api/batches', 'POST /api/batches/validate', 'GET /api/batches/{name}',
      'POST /api/batches/{name}/start', 'POST /api/batches/{name}/stop', 'POST /api/batches/{name}/complete', 'POST /api/batches/{name}/retry',
      'POST /api/batches/{name}/sync-now', 'POST /api/batches/{name}/users', 'DELETE /api/batches/{name}', 'GET /api/batches/{name}/users',
      'GET /api/batches/{name}/users/{address}', 'GET /api/batches/{name}/report.csv', 'GET /api/batches/{name}/report.json',
      'GET /api/events', 'POST /api/events/ticket', 'GET /api/info', 'GET /api/openapi.json', 'GET /api/docs',
    ]) assert.ok(names.includes(expected), `${expected} missing from ${names.join(', ')}`);
    for (const { path, method, op } of ops) {
      const success = Object.keys(op.responses).filter((s) => s.startsWith('2'));
      assert.ok(success.length > 0, `${method} ${path} has no success response`);
      assert.ok(op.summary, `${method} ${path} has no summary`);
      if (['post', 'patch'].includes(method) && !/\/(start|stop|complete|retry|sync-now|ticket)$/.test(path)) assert.ok(op.requestBody, `${method} ${path} has no request body schema`);
      for (const p of path.match(/\{(\w+)\}/g) ?? []) assert.ok(op.parameters.some((x: any) => x.in === 'path' && `{${x.name}}` === p), `${method} ${path} lacks ${p}`);
    }
    assert.equal(doc.paths['/api/batches/{name}/users'].get.responses['200'].content['application/json'].schema.properties.users.items.$ref, '#/components/schemas/BatchUser');
    assert.ok(doc.components.schemas.EndpointView.properties.admin);
    assert.equal(doc.paths['/api/docs'].get.security.length, 0);
    // Every $ref resolves.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) assert.ok(doc.components.schemas[ref.split('/').pop()!.replace(/"$/, '')], ref);
    // Passwords are declared write-only in the request schemas.
    assert.equal(doc.components.schemas.EndpointCreate.properties.admin.properties.password.writeOnly, true);
  });
});

describe('static dashboard files', () => {
  it('serves index.html, assets with content types, client-side routes, and never leaves the web root', async () => {
    const index = await call('GET', '/', undefined, {});
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.match(String(index.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    const js = await call('GET', '/assets/app.js', undefined, {});
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.match(String((await call('GET', '/assets/app.css', undefined, {})).headers['content-type']), /^text\/css/);
    assert.match(String((await call('GET', '/favicon.svg', undefined, {})).headers['content-type']), /^image\/svg\+xml/);
    const route = await call('GET', '/batches/Wave1?tab=users', undefined, {});
    assert.equal(route.status, 200);
    assert.match(route.body, /<title>dash<\/title>/);
    assert.equal((await call('GET', '/assets/missing.js', undefined, {})).status, 404);
    for (const evil of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/%2e%2e%2f%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/%00', '/assets/%E0%A4%A']) {
      const r = await call('GET', evil, undefined, {});
      assert.ok(!r.body.includes('outside the web root'), evil);
      assert.ok(r.status === 404 || r.status === 400 || (r.status === 200 && r.body.includes('<title>dash</title>')), `${evil}: ${r.status}`);
    }
    assert.equal((await call('POST', '/anything', {}, {})).status, 404);
  });

  it('says how to build the dashboard when web/dist is missing', () => {
    const r = resolveStatic(join(work, 'no-such-dist'), '/');
    assert.equal(r.status, 503);
    assert.match(String(r.body), /dashboard is not built/);
    assert.match(String(r.body), /npm run build:web/);
  });
});

describe('passwords', () => {
  it('never appear in any response body', () => {
    assert.ok(bodies.length > 100, `only ${bodies.length} bodies recorded`);
    for (const body of bodies) {
      for (const pw of PASSWORDS) assert.ok(!body.includes(pw), `a response contains the password ${pw}: ${body.slice(0, 300)}`);
    }
  });
});
