/**
 * `mailshift endpoint …` end to end, as an admin runs it (child processes of bin/mailshift.js),
 * against a real Dovecot with a master user: the connection test on add (passes with --ca, fails
 * with the TLS verdict without it, the seeds' wording on a closed port and on a silent one),
 * --skip-verification, duplicates, list/show/set/remove, admin logins in the dovecot and authzid
 * formats, secrets encrypted at rest and never printed, a changed secret key, the key file mode.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImapFlow } from 'imapflow';
import { createEndpointService } from '../src/app/endpoint-service.ts';
import { imapFlowOptionsFor } from '../src/imap/connect-options.ts';
import { openSqliteStore } from '../src/store/open-sqlite.ts';
import { openSecretBox } from '../src/store/secret-box.ts';
import { startDovecot, type DovecotServer } from '../src/testbed/index.ts';
import { runCli, type CliResult } from './support/cli.ts';

const ADMIN_PASSWORD = 'Adm1n-S3cret-pw!';
const USER_PASSWORD = 'Al1ce-pw-Secret';
const MAILBOX = 'alice@example.com';

let server: DovecotServer;
let dir: string;
let statePath: string;
let adminPwFile: string;
let wrongPwFile: string;
let closedPort: number;
let silent: net.Server;
let silentPort: number;
const silentSockets = new Set<net.Socket>();
let timeoutRun: Promise<CliResult>;
const outputs: string[] = [];

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await runCli(['endpoint', ...args, '--state', statePath], { XDG_STATE_HOME: dir, MAILSHIFT_SECRET_KEY: '', MAILSHIFT_ADMIN_PASSWORD: '', ...env });
  outputs.push(r.stdout, r.stderr);
  return r;
}

const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ms-endpoint-'));
  statePath = join(dir, 'state', 'state.sqlite');
  adminPwFile = join(dir, 'admin.pw');
  wrongPwFile = join(dir, 'wrong.pw');
  writeFileSync(adminPwFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(wrongPwFile, 'not-the-password\n', { mode: 0o600 });
  closedPort = await freePort();
  // Accepts TCP and never says a word: the seeds' "timed out after 00:00:15".
  silent = net.createServer((socket) => { silentSockets.add(socket); socket.on('error', () => {}); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as net.AddressInfo).port;
  server = await startDovecot({
    name: 'endpoint', folderStyle: 'dovecot', extraConfig: 'auth_failure_delay = 0',
    users: [{ user: MAILBOX, password: USER_PASSWORD }, { user: 'bob@example.com', password: 'pw-bob' }],
    masterUser: { user: 'mailadmin', password: ADMIN_PASSWORD },
  });
  // Runs alongside the other tests: it takes the full 15 s timeout.
  timeoutRun = runCli(['endpoint', 'add', 'silent', '--host', '127.0.0.1', '--port', String(silentPort), '--state', join(dir, 'other', 'state.sqlite')],
    { XDG_STATE_HOME: dir, MAILSHIFT_SECRET_KEY: '' });
});

after(async () => {
  for (const s of silentSockets) s.destroy();
  silent?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mailshift endpoint (real Dovecot)', () => {
  it('add tests the connection: passes with --ca and the endpoint is created', async () => {
    const r = await cli(['add', 'dovecot-ssl', '--host', '127.0.0.1', '--port', String(server.imapsPort), '--ca', server.caFile]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /Created the migration endpoint "dovecot-ssl" \(127\.0\.0\.1:\d+, ssl\): connection test passed/);
    const s = await cli(['show', 'dovecot-ssl']);
    assert.equal(s.code, 0, show(s));
    assert.match(s.stdout, /CA bundle: +1 certificate\(s\)/);
    assert.match(s.stdout, /Last test: +.* passed/);
  });

  it('add fails with the TLS verdict without the CA, exit 4, and creates nothing', async () => {
    const r = await cli(['add', 'no-ca', '--host', '127.0.0.1', '--port', String(server.imapsPort)]);
    assert.equal(r.code, 4, show(r));
    assert.match(r.stderr, /The certificate of 127\.0\.0\.1 is (self-signed|not trusted)/);
    assert.match(r.stderr, /What to do: .*--ca FILE/);
    assert.match(r.stderr, /Nothing was created/);
    const s = await cli(['show', 'no-ca']);
    assert.equal(s.code, 2, show(s));
    assert.match(s.stderr, /There is no migration endpoint named "no-ca"/);
  });

  it('add on a closed port: "The connection to the server X could not be completed.", exit 3', async () => {
    const r = await cli(['add', 'closed', '--host', '127.0.0.1', '--port', String(closedPort)]);
    assert.equal(r.code, 3, show(r));
    assert.match(r.stderr, /^mailshift: The connection to the server 127\.0\.0\.1 could not be completed\.$/m);
    assert.match(r.stderr, /What to do: Nothing accepts connections on 127\.0\.0\.1 port \d+/);
    assert.match(r.stderr, /\(CONN_REFUSED\)/);
  });

  it('--skip-verification creates it anyway; the same name again is refused', async () => {
    const r = await cli(['add', 'closed', '--host', '127.0.0.1', '--port', String(closedPort), '--skip-verification']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /connection not tested/);
    const dup = await cli(['add', 'CLOSED', '--host', '127.0.0.1', '--skip-verification']);
    assert.equal(dup.code, 2, show(dup));
    assert.match(dup.stderr, /The migration endpoint "CLOSED" already exists\./);
    assert.match(dup.stderr, /\(ENDPOINT_EXISTS\)/);
  });

  it('admin format dovecot: add signs in as user*admin on behalf of --test-mailbox', async () => {
    const r = await cli(['add', 'master', '--host', '127.0.0.1', '--port', String(server.imapsPort), '--ca', server.caFile,
      '--admin-user', 'mailadmin', '--admin-password-file', adminPwFile, '--admin-format', 'dovecot', '--test-mailbox', MAILBOX]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /signed in as alice@example\.com\*mailadmin/);
    const s = await cli(['show', 'master']);
    assert.match(s.stdout, /Admin: +mailadmin \(password set\), format dovecot \(user\*admin\)/);
  });

  it('a wrong admin password fails the login test (exit 5) and creates nothing', async () => {
    const r = await cli(['add', 'badpw', '--host', '127.0.0.1', '--port', String(server.imapsPort), '--ca', server.caFile,
      '--admin-user', 'mailadmin', '--admin-password-file', wrongPwFile, '--admin-format', 'dovecot', '--test-mailbox', MAILBOX]);
    assert.equal(r.code, 5, show(r));
    assert.match(r.stderr, /We had trouble signing in to this account\./);
    assert.equal((await cli(['show', 'badpw'])).code, 2);
  });

  it('the admin password comes from MAILSHIFT_ADMIN_PASSWORD too; never from argv', async () => {
    const argv = await cli(['add', 'argv', '--host', '127.0.0.1', '--admin-user', 'mailadmin', '--admin-password', 'x', '--skip-verification']);
    assert.equal(argv.code, 2, show(argv));
    assert.match(argv.stderr, /never accepted on the command line/);
    const env = await cli(['add', 'authz', '--host', '127.0.0.1', '--port', String(server.imapsPort), '--ca', server.caFile,
      '--admin-user', 'mailadmin', '--admin-format', 'authzid', '--test-mailbox', MAILBOX], { MAILSHIFT_ADMIN_PASSWORD: ADMIN_PASSWORD });
    assert.equal(env.code, 0, show(env));
    assert.match(env.stdout, /signed in as mailadmin for alice@example\.com/);
    const missing = await cli(['add', 'nopw', '--host', '127.0.0.1', '--admin-user', 'mailadmin', '--skip-verification']);
    assert.equal(missing.code, 2, show(missing));
    assert.match(missing.stderr, /MAILSHIFT_ADMIN_PASSWORD/);
  });

  it('endpoint test --json: with a mailbox through the admin (dovecot and authzid), and without one', async () => {
    for (const [name, user, authzid] of [['master', 'alice@example.com*mailadmin', null], ['authz', 'mailadmin', MAILBOX]] as const) {
      const r = await cli(['test', name, '--mailbox', MAILBOX, '--json']);
      assert.equal(r.code, 0, show(r));
      const result = JSON.parse(r.stdout);
      assert.equal(result.ok, true);
      assert.equal(result.login, 'tested');
      assert.equal(result.loginUser, user);
      assert.equal(result.authzid, authzid);
      assert.equal(result.verdict.code, 'DIAGNOSE_OK');
      assert.equal(result.report.steps.find((s: { step: string }) => s.step === 'login').status, 'pass');
    }
    const r = await cli(['test', 'master', '--json']);
    assert.equal(r.code, 0, show(r));
    const result = JSON.parse(r.stdout);
    assert.equal(result.login, 'skipped');
    assert.match(result.notes.join(' '), /--mailbox/);
    const human = await cli(['test', 'dovecot-ssl']);
    assert.equal(human.code, 0, show(human));
    assert.match(human.stdout, /the connection test passed/);
    const failing = await cli(['test', 'closed', '--json']);
    assert.equal(failing.code, 3, show(failing));
    assert.equal(JSON.parse(failing.stdout).verdict.code, 'CONN_REFUSED');
  });

  it('the resolver\'s ConnectionSettings really open the mailbox (dovecot and authzid formats)', async () => {
    const db = await openSqliteStore(statePath);
    try {
      const service = createEndpointService({ db, secrets: openSecretBox({ statePath, env: {} }) });
      for (const name of ['master', 'authz']) {
        const endpoint = await service.getEndpointByName(name);
        const settings = await service.connectionFor(endpoint, { user: 'ignored', password: null, mailbox: MAILBOX });
        assert.equal(settings.connectTimeoutMs, 15_000);
        const client = new ImapFlow(imapFlowOptionsFor(settings));
        client.on('error', () => {});
        await client.connect();
        try {
          const list = await client.list();
          assert.ok(list.some((f) => f.path === 'INBOX'), name);
        } finally {
          await client.logout();
        }
      }
    } finally {
      await db.destroy();
    }
  });

  it('--accept-untrusted-certificates: created without the CA, warned about in add, show and list', async () => {
    const r = await cli(['add', 'untrusted', '--host', '127.0.0.1', '--port', String(server.imapsPort), '--accept-untrusted-certificates']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, /WARNING: .*accepts untrusted certificates/);
    const s = await cli(['show', 'untrusted']);
    assert.match(s.stdout, /Certificate validation: +OFF/);
    assert.match(s.stdout, /WARNING: .*accepts untrusted certificates/);
    const t = await cli(['test', 'untrusted', '--json']);
    assert.equal(t.code, 0, show(t));
    assert.ok(JSON.parse(t.stdout).untrustedCertificateAccepted.code.startsWith('TLS_'));
    const l = await cli(['list']);
    assert.match(l.stdout, /untrusted +127\.0\.0\.1:\d+ +ssl \(untrusted certs ok\)/);
    assert.match(l.stdout, /WARNING: .*untrusted/);
  });

  it('security none needs --allow-insecure and is flagged', async () => {
    const refused = await cli(['add', 'plain', '--host', '127.0.0.1', '--port', String(server.imapPort), '--security', 'none']);
    assert.equal(refused.code, 2, show(refused));
    assert.match(refused.stderr, /ENDPOINT_INSECURE_REFUSED/);
    const r = await cli(['add', 'plain', '--host', '127.0.0.1', '--port', String(server.imapPort), '--security', 'none', '--allow-insecure']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, /WARNING: .*unencrypted/);
  });

  it('list --json and show --json never contain a secret', async () => {
    const l = await cli(['list', '--json']);
    assert.equal(l.code, 0, show(l));
    const list = JSON.parse(l.stdout) as Array<{ name: string; admin: { user: string; passwordSet: boolean } | null }>;
    assert.deepEqual(list.map((e) => e.name).sort(), ['authz', 'closed', 'dovecot-ssl', 'master', 'plain', 'untrusted']);
    assert.deepEqual(list.find((e) => e.name === 'master')!.admin, { user: 'mailadmin', format: 'dovecot', loginTemplate: null, passwordSet: true });
    const s = await cli(['show', 'master', '--json']);
    assert.equal(JSON.parse(s.stdout).maxConcurrentMigrations, 20);
  });

  it('set: limits without a test; a new port is tested and a failing one changes nothing', async () => {
    const r = await cli(['set', 'master', '--max-concurrent-migrations', '3']);
    assert.equal(r.code, 0, show(r));
    const bad = await cli(['set', 'master', '--port', String(closedPort)]);
    assert.equal(bad.code, 3, show(bad));
    assert.match(bad.stderr, /Nothing was changed/);
    const s = JSON.parse((await cli(['show', 'master', '--json'])).stdout);
    assert.equal(s.port, server.imapsPort);
    assert.equal(s.maxConcurrentMigrations, 3);
    assert.equal(s.maxConcurrentIncrementalSyncs, 3);
    const over = await cli(['set', 'master', '--max-concurrent-incremental-syncs', '4']);
    assert.equal(over.code, 2, show(over));
    const rotate = await cli(['set', 'master', '--admin-password-file', adminPwFile, '--test-mailbox', MAILBOX]);
    assert.equal(rotate.code, 0, show(rotate));
    assert.match(rotate.stdout, /signed in as alice@example\.com\*mailadmin/);
  });

  it('secrets are encrypted at rest, never printed; the key file is 0600', async () => {
    for (const file of readdirSync(join(dir, 'state'))) {
      const bytes = readFileSync(join(dir, 'state', file));
      assert.ok(!bytes.includes(ADMIN_PASSWORD), `${file} contains the admin password`);
      assert.ok(!bytes.includes(Buffer.from(ADMIN_PASSWORD, 'utf16le')), `${file} contains the admin password (UTF-16)`);
    }
    assert.equal(statSync(join(dir, 'state', 'secret.key')).mode & 0o777, 0o600);
    for (const text of outputs) assert.ok(!text.includes(ADMIN_PASSWORD), `printed the password: ${text}`);
  });

  it('a changed MAILSHIFT_SECRET_KEY gives a clear error; an invalid one too', async () => {
    const other = Buffer.alloc(32, 9).toString('base64');
    const r = await cli(['test', 'master', '--mailbox', MAILBOX], { MAILSHIFT_SECRET_KEY: other });
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /cannot be decrypted with the current secret key \(MAILSHIFT_SECRET_KEY\).*The secret key has changed/);
    assert.match(r.stderr, /\(SECRET_KEY_MISMATCH\)/);
    const bad = await cli(['test', 'master', '--mailbox', MAILBOX], { MAILSHIFT_SECRET_KEY: 'tooshort' });
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /The secret key from MAILSHIFT_SECRET_KEY is not valid/);
    assert.ok(!r.stderr.includes(other) && !bad.stderr.includes('tooshort'.repeat(2)));
  });

  it('remove deletes; removing again says it does not exist', async () => {
    const r = await cli(['remove', 'closed']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /Removed the migration endpoint "closed"/);
    const again = await cli(['remove', 'closed']);
    assert.equal(again.code, 2, show(again));
    assert.match(again.stderr, /ENDPOINT_NOT_FOUND/);
  });

  it('add on a silent server: "The connection to the server X timed out after 00:00:15.", exit 3', async () => {
    const r = await timeoutRun;
    assert.equal(r.code, 3, show(r));
    assert.match(r.stderr, /^mailshift: The connection to the server 127\.0\.0\.1 timed out after 00:00:15\.$/m);
    assert.match(r.stderr, /\(CONN_TIMEOUT\)/);
  });
});
