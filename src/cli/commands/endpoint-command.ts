/**
 * `mailshift endpoint add|list|show|test|set|remove`: migration endpoints (issue 3 §1), the
 * Exchange Online model an admin knows. Secrets come from a file, the environment or a prompt —
 * never argv — and are never printed; `show` says "(password set)".
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Kysely } from 'kysely';
import { MailshiftError, exitCodeFor } from '../../domain/errors.js';
import type { SecurityMode } from '../../domain/mail-types.js';
import { formatReport } from '../../diagnose/report-format.js';
import { describeAdminFormat } from '../../endpoint/admin-login.js';
import type { AdminLoginFormat, AuthenticationMethod, EndpointTls } from '../../endpoint/endpoint-model.js';
import {
  caCertificateCount, createEndpointService, EndpointTestFailed, type EndpointInput, type EndpointPatch, type EndpointService,
  type EndpointTestResult, type EndpointView, type TestOptions,
} from '../../app/endpoint-service.js';
import { defaultStatePath, openSqliteStore } from '../../store/open-sqlite.js';
import type { Database } from '../../store/schema.js';
import { openSecretBox } from '../../store/secret-box.js';
import { reportFailure } from '../cli-output.js';
import { parsePort, parsePositiveInt } from '../parse-values.js';
import { promptHidden, readPasswordFile } from '../secret-input.js';

type Opts = Record<string, unknown>;

const usage = (detail: string): MailshiftError => new MailshiftError('USAGE_INVALID_OPTION', { detail });

function str(opts: Opts, key: string): string | undefined {
  const v = opts[key];
  return typeof v === 'string' ? v : undefined;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) throw usage(`${option} must be ${allowed.join(', ')}, not "${value}".`);
  return v as T;
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new MailshiftError('USAGE_FILE_UNREADABLE', { path, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

function parseTlsVersion(value: string): EndpointTls['minVersion'] {
  const v = value.trim().toLowerCase().replace(/^tls\s*v?/, '');
  const map: Record<string, EndpointTls['minVersion']> = { '1': 'TLSv1', '1.0': 'TLSv1', '1.1': 'TLSv1.1', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };
  const version = map[v];
  if (!version) throw usage(`--min-tls: "${value}" is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.`);
  return version;
}

/** --admin-password-file, else MAILSHIFT_ADMIN_PASSWORD, else a hidden prompt on a terminal. */
async function adminPassword(opts: Opts, user: string): Promise<string> {
  const file = str(opts, 'adminPasswordFile');
  if (file) return readPasswordFile(file);
  const fromEnv = process.env.MAILSHIFT_ADMIN_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY && process.stderr.isTTY) return promptHidden(`Password for the admin account ${user}: `);
  throw new MailshiftError('USAGE_PASSWORD_MISSING', { side: 'admin', user });
}

// ------------------------------------------------------------------ state

async function withService<T>(opts: Opts, run: (service: EndpointService) => Promise<T>): Promise<T> {
  const statePath = str(opts, 'state') ?? defaultStatePath();
  const db: Kysely<Database> = await openSqliteStore(statePath);
  try {
    return await run(createEndpointService({ db, secrets: openSecretBox({ statePath }) }));
  } finally {
    await db.destroy();
  }
}

// ------------------------------------------------------------------ options

function addSettingOptions(command: Command, forSet: boolean): Command {
  command
    .option('--port <port>', 'IMAP port (default 993 with ssl, 143 otherwise)')
    .option('--security <mode>', 'ssl (implicit TLS, default) | starttls | none')
    .option('--allow-insecure', 'required with --security none: passwords and mail then travel unencrypted')
    .option('--authentication <method>', 'login | plain (default: plain with --admin-format authzid, else login)')
    .option('--admin-user <user>', 'admin account that signs in on behalf of every mailbox (impersonation)')
    .option('--admin-password-file <file>', 'file whose first line is the admin password (else MAILSHIFT_ADMIN_PASSWORD, else a prompt)')
    .addOption(new Option('--admin-password <password>').hideHelp())
    .option('--admin-format <format>', 'how the admin signs in for a mailbox: authzid (default) | dovecot (user*admin) | exchange (Domain/Admin/User) | mirapoint (#user@domain#admin#) | template')
    .option('--login-template <template>', 'with --admin-format template: the login, with {user} {localpart} {domain} {admin}')
    .option('--max-concurrent-migrations <n>', `mailboxes migrated at once through this endpoint, 1-100${forSet ? '' : ' (default 20)'}`)
    .option('--max-concurrent-incremental-syncs <n>', `incremental syncs at once, at most the concurrent migrations${forSet ? '' : ' (default 10)'}`)
    .option('--min-tls <version>', 'lowest TLS version accepted: TLSv1, TLSv1.1, TLSv1.2 (default), TLSv1.3; lower only for legacy servers')
    .option('--ciphers <list>', 'OpenSSL cipher list (last resort for legacy servers)')
    .option('--ca <file>', 'PEM file of CA certificates to trust for this server, in addition to the system store')
    .option('--servername <name>', 'name the certificate is checked against (and sent as SNI), when --host is an address')
    .option('--accept-untrusted-certificates', 'do not validate the server certificate (the seeds\' AcceptUntrustedCertificates): recorded and shown as a warning everywhere')
    .option('--compress', 'use COMPRESS=DEFLATE when the server offers it: for endpoints across slow links (costs CPU; off by default)')
    .option('--skip-verification', forSet ? 'save the change without testing the connection' : 'create the endpoint without testing the connection')
    .option('--test-mailbox <address>', 'also test signing in on behalf of this mailbox with the admin credentials')
    .option('--state <path>', 'state database (default: $MAILSHIFT_STATE or ~/.local/state/mailshift/state.sqlite)')
    .option('--json', 'print the result as JSON');
  if (forSet) {
    command
      .option('--host <host>', 'new host name or IP address')
      .option('--rename <name>', 'new endpoint name')
      .option('--remove-admin', 'remove the admin credentials (users then sign in with the CSV\'s passwords)')
      .option('--no-ca', 'stop trusting the endpoint\'s CA bundle')
      .option('--no-min-tls', 'back to the default minimum TLS version')
      .option('--no-ciphers', 'back to the default cipher list')
      .option('--no-servername', 'check the certificate against --host again')
      .option('--no-accept-untrusted-certificates', 'validate the server certificate again')
      .option('--no-compress', 'stop using COMPRESS=DEFLATE');
  }
  return command;
}

function refusePasswordArgv(opts: Opts): void {
  if (opts.adminPassword !== undefined) {
    throw usage('Passwords are never accepted on the command line (they show in the process list and shell history): use --admin-password-file FILE or the MAILSHIFT_ADMIN_PASSWORD environment variable.');
  }
}

const SECURITY: readonly SecurityMode[] = ['ssl', 'starttls', 'none'];
const AUTH: readonly AuthenticationMethod[] = ['login', 'plain'];
const FORMATS: readonly AdminLoginFormat[] = ['authzid', 'dovecot', 'exchange', 'mirapoint', 'template'];

async function inputFromAdd(name: string, opts: Opts): Promise<EndpointInput> {
  refusePasswordArgv(opts);
  const host = str(opts, 'host');
  if (!host) throw usage('--host is required.');
  const security = oneOf(str(opts, 'security')?.replace(/^tls$/i, 'ssl'), SECURITY, '--security');
  const adminUser = str(opts, 'adminUser');
  if (!adminUser && (opts.adminFormat !== undefined || opts.loginTemplate !== undefined || opts.adminPasswordFile !== undefined)) {
    throw usage('--admin-format, --login-template and --admin-password-file need --admin-user.');
  }
  const format = oneOf(str(opts, 'adminFormat'), FORMATS, '--admin-format') ?? (opts.loginTemplate !== undefined ? 'template' : 'authzid');
  const input: EndpointInput = {
    name,
    host,
    ...(opts.port !== undefined ? { port: parsePort(String(opts.port), '--port') } : {}),
    ...(security ? { security } : {}),
    allowInsecure: opts.allowInsecure === true,
    ...(opts.authentication !== undefined ? { authentication: oneOf(str(opts, 'authentication'), AUTH, '--authentication')! } : {}),
    admin: adminUser ? { user: adminUser, password: await adminPassword(opts, adminUser), format, loginTemplate: str(opts, 'loginTemplate') ?? null } : null,
    ...(opts.maxConcurrentMigrations !== undefined ? { maxConcurrentMigrations: parsePositiveInt(String(opts.maxConcurrentMigrations), '--max-concurrent-migrations', 100) } : {}),
    ...(opts.maxConcurrentIncrementalSyncs !== undefined ? { maxConcurrentIncrementalSyncs: parsePositiveInt(String(opts.maxConcurrentIncrementalSyncs), '--max-concurrent-incremental-syncs', 100) } : {}),
    tls: {
      ...(typeof opts.minTls === 'string' ? { minVersion: parseTlsVersion(opts.minTls) } : {}),
      ...(typeof opts.ciphers === 'string' ? { ciphers: opts.ciphers } : {}),
      ...(typeof opts.ca === 'string' ? { caPem: readCaFile(opts.ca) } : {}),
      ...(typeof opts.servername === 'string' ? { servername: opts.servername } : {}),
    },
    acceptUntrustedCertificates: opts.acceptUntrustedCertificates === true,
    compress: opts.compress === true,
  };
  return input;
}

async function patchFromSet(opts: Opts): Promise<EndpointPatch> {
  refusePasswordArgv(opts);
  const patch: EndpointPatch = {};
  if (typeof opts.rename === 'string') patch.name = opts.rename;
  if (typeof opts.host === 'string') patch.host = opts.host;
  if (opts.port !== undefined) patch.port = parsePort(String(opts.port), '--port');
  const security = oneOf(str(opts, 'security')?.replace(/^tls$/i, 'ssl'), SECURITY, '--security');
  if (security) patch.security = security;
  if (opts.allowInsecure === true) patch.allowInsecure = true;
  if (opts.authentication !== undefined) patch.authentication = oneOf(str(opts, 'authentication'), AUTH, '--authentication')!;
  if (opts.removeAdmin === true) {
    if (opts.adminUser !== undefined || opts.adminPasswordFile !== undefined || opts.adminFormat !== undefined) throw usage('--remove-admin cannot be combined with other --admin-* options.');
    patch.admin = null;
  } else if (opts.adminUser !== undefined || opts.adminPasswordFile !== undefined || opts.adminFormat !== undefined || opts.loginTemplate !== undefined) {
    const admin: NonNullable<EndpointPatch['admin']> = {};
    if (typeof opts.adminUser === 'string') admin.user = opts.adminUser;
    const format = oneOf(str(opts, 'adminFormat'), FORMATS, '--admin-format');
    if (format) admin.format = format;
    if (typeof opts.loginTemplate === 'string') {
      admin.loginTemplate = opts.loginTemplate;
      admin.format ??= 'template';
    }
    // A new password only when asked for: a new admin user (then from the file, the environment or a
    // prompt), or --admin-password-file. MAILSHIFT_ADMIN_PASSWORD alone never silently replaces it.
    if (typeof opts.adminPasswordFile === 'string') admin.password = readPasswordFile(opts.adminPasswordFile);
    else if (typeof opts.adminUser === 'string') admin.password = await adminPassword(opts, opts.adminUser);
    patch.admin = admin;
  }
  if (opts.maxConcurrentMigrations !== undefined) patch.maxConcurrentMigrations = parsePositiveInt(String(opts.maxConcurrentMigrations), '--max-concurrent-migrations', 100);
  if (opts.maxConcurrentIncrementalSyncs !== undefined) patch.maxConcurrentIncrementalSyncs = parsePositiveInt(String(opts.maxConcurrentIncrementalSyncs), '--max-concurrent-incremental-syncs', 100);
  const tlsPatch: NonNullable<EndpointPatch['tls']> = {};
  if (typeof opts.minTls === 'string') tlsPatch.minVersion = parseTlsVersion(opts.minTls);
  else if (opts.minTls === false) tlsPatch.minVersion = null;
  if (typeof opts.ciphers === 'string') tlsPatch.ciphers = opts.ciphers;
  else if (opts.ciphers === false) tlsPatch.ciphers = null;
  if (typeof opts.ca === 'string') tlsPatch.caPem = readCaFile(opts.ca);
  else if (opts.ca === false) tlsPatch.caPem = null;
  if (typeof opts.servername === 'string') tlsPatch.servername = opts.servername;
  else if (opts.servername === false) tlsPatch.servername = null;
  if (Object.keys(tlsPatch).length > 0) patch.tls = tlsPatch;
  if (opts.acceptUntrustedCertificates === true) patch.acceptUntrustedCertificates = true;
  else if (opts.acceptUntrustedCertificates === false) patch.acceptUntrustedCertificates = false;
  if (opts.compress === true) patch.compress = true;
  else if (opts.compress === false) patch.compress = false;
  return patch;
}

function testOptionsFrom(opts: Opts, key: 'testMailbox' | 'mailbox'): TestOptions {
  const mailbox = str(opts, key);
  return mailbox ? { mailbox } : {};
}

// ------------------------------------------------------------------ rendering

function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** A view made safe for JSON: no secret is part of a view; the CA bundle is public but long. */
function viewJson(view: EndpointView): Record<string, unknown> {
  const e = view.endpoint;
  return {
    ...e,
    admin: e.admin ? { ...e.admin, passwordSet: view.adminPasswordSet } : null,
    tls: { ...e.tls, caCertificates: caCertificateCount(e.tls.caPem) },
    warnings: view.warnings,
    lastTest: view.lastTest,
  };
}

export function renderShow(view: EndpointView): string {
  const e = view.endpoint;
  const rows: Array<[string, string]> = [
    ['Server', `${e.host}:${e.port}`],
    ['Security', e.security === 'none' ? 'none (UNENCRYPTED)' : e.security],
    ['Authentication', e.authentication],
    ['Admin', e.admin ? `${e.admin.user} (${view.adminPasswordSet ? 'password set' : 'NO PASSWORD'}), format ${describeAdminFormat(e.admin)}` : 'none (users sign in with the passwords from the CSV)'],
    ['Max concurrent migrations', String(e.maxConcurrentMigrations)],
    ['Max concurrent incremental syncs', String(e.maxConcurrentIncrementalSyncs)],
    ['Minimum TLS version', e.tls.minVersion ?? 'default (TLSv1.2)'],
    ['Ciphers', e.tls.ciphers ?? 'default'],
    ['CA bundle', e.tls.caPem ? `${caCertificateCount(e.tls.caPem)} certificate(s), in addition to the system store` : 'system store'],
    ['Certificate name', e.tls.servername ?? `${e.host} (the host)`],
    ['Certificate validation', e.acceptUntrustedCertificates ? 'OFF (untrusted certificates accepted)' : 'on'],
    ['Compression', e.compress ? 'COMPRESS=DEFLATE when offered' : 'off'],
    ['Last test', view.lastTest ? `${fmtTime(view.lastTest.at)}: ${view.lastTest.ok ? 'passed' : `failed (${view.lastTest.code})`}` : 'never'],
    ['Created', fmtTime(e.createdAt)],
    ['Updated', fmtTime(e.updatedAt)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  const lines = [`Endpoint "${e.name}"`, ...rows.map(([k, v]) => `  ${`${k}:`.padEnd(width)} ${v}`)];
  for (const w of view.warnings) lines.push(`  WARNING: ${w.message}`);
  return `${lines.join('\n')}\n`;
}

export function renderList(views: EndpointView[]): string {
  if (views.length === 0) return 'No migration endpoints. Create one with `mailshift endpoint add NAME --host HOST`.\n';
  const header = ['NAME', 'SERVER', 'SECURITY', 'ADMIN', 'MIGRATIONS', 'INCREMENTAL', 'LAST TEST'];
  const rows = views.map((v) => {
    const e = v.endpoint;
    return [
      e.name,
      `${e.host}:${e.port}`,
      e.security + (e.acceptUntrustedCertificates ? ' (untrusted certs ok)' : ''),
      e.admin ? `${e.admin.user} (${e.admin.format})` : '-',
      String(e.maxConcurrentMigrations),
      String(e.maxConcurrentIncrementalSyncs),
      v.lastTest ? (v.lastTest.ok ? 'passed' : `failed ${v.lastTest.code}`) : 'never',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const v of views) for (const w of v.warnings) out.push(`WARNING: ${w.message}`);
  return `${out.join('\n')}\n`;
}

export function renderTest(result: EndpointTestResult): string {
  const lines = [formatReport(result.report).trimEnd()];
  if (result.login === 'tested') lines.push(`Signed in as ${result.loginUser}${result.authzid ? ` on behalf of ${result.authzid} (SASL PLAIN authzid)` : ''}.`);
  if (result.untrustedCertificateAccepted) lines.push(`ACCEPTED UNTRUSTED CERTIFICATE: ${result.untrustedCertificateAccepted.message}`);
  for (const n of result.notes) lines.push(`note: ${n}`);
  for (const w of result.warnings) lines.push(`WARNING: ${w.message}`);
  lines.push(result.ok ? `Endpoint "${result.endpoint}": the connection test passed.` : `Endpoint "${result.endpoint}": the connection test failed.`);
  return `${lines.join('\n')}\n`;
}

function testSummary(test: EndpointTestResult | null): string {
  if (!test) return 'connection not tested (--skip-verification)';
  return `connection test passed${test.login === 'tested' ? `, signed in as ${test.loginUser}${test.authzid ? ` for ${test.authzid}` : ''}` : ''}`;
}

/** Failures of add/set/test: the catalog's message, remedy and exit code, plus what was (not) saved. */
function fail(err: unknown, json: boolean, nothingSaved: string): void {
  if (err instanceof EndpointTestFailed && json) {
    process.stdout.write(`${JSON.stringify({ status: 'failed', error: err.toJSON(), test: err.result }, null, 2)}\n`);
    process.exitCode = exitCodeFor(err);
    return;
  }
  process.exitCode = reportFailure(err, json);
  if (json) return;
  const hint = err instanceof EndpointTestFailed
    ? ' Fix the cause above, run `mailshift diagnose HOST:PORT` for the step-by-step report, or add --skip-verification to save the endpoint without testing it.'
    : '';
  process.stderr.write(`  ${nothingSaved}${hint}\n`);
}

// ------------------------------------------------------------------ commands

export function registerEndpointCommand(program: Command): void {
  const endpoint = program.command('endpoint').description('Migration endpoints: named IMAP servers used as the source or target of batches');

  addSettingOptions(
    endpoint.command('add')
      .description('Create a migration endpoint; the connection is tested first unless --skip-verification')
      .argument('<name>', 'unique name, e.g. "old-imap"')
      .requiredOption('--host <host>', 'host name (FQDN) or IP address of the IMAP server'),
    false,
  ).action(async (name: string, opts: Opts) => {
    const json = opts.json === true;
    try {
      const input = await inputFromAdd(name, opts);
      const { endpoint: created, test } = await withService(opts, (s) => s.createEndpoint(input, { verify: opts.skipVerification !== true, ...testOptionsFrom(opts, 'testMailbox') }));
      const view = await withService(opts, (s) => s.describeEndpoint(created.name));
      if (json) {
        process.stdout.write(`${JSON.stringify({ status: 'created', endpoint: viewJson(view), test }, null, 2)}\n`);
      } else {
        process.stdout.write(`Created the migration endpoint "${created.name}" (${created.host}:${created.port}, ${created.security}): ${testSummary(test)}.\n`);
        for (const n of test?.notes ?? []) process.stdout.write(`note: ${n}\n`);
        for (const w of view.warnings) process.stderr.write(`WARNING: ${w.message}\n`);
      }
    } catch (err) {
      fail(err, json, 'Nothing was created.');
    }
  });

  endpoint.command('list')
    .description('List the migration endpoints (no secrets are shown)')
    .option('--state <path>', 'state database')
    .option('--json', 'print as JSON')
    .action(async (opts: Opts) => {
      const views = await withService(opts, (s) => s.listEndpoints());
      process.stdout.write(opts.json === true ? `${JSON.stringify(views.map(viewJson), null, 2)}\n` : renderList(views));
    });

  endpoint.command('show')
    .description('Show one migration endpoint\'s settings and warnings (no secrets are shown)')
    .argument('<name>', 'endpoint name')
    .option('--state <path>', 'state database')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts: Opts) => {
      const view = await withService(opts, (s) => s.describeEndpoint(name));
      process.stdout.write(opts.json === true ? `${JSON.stringify(viewJson(view), null, 2)}\n` : renderShow(view));
    });

  endpoint.command('test')
    .description('Test the connection to the endpoint (DNS, TCP, TLS, IMAP) and, with --mailbox, signing in through its admin credentials')
    .argument('<name>', 'endpoint name')
    .option('--mailbox <address>', 'also sign in on behalf of this mailbox (with the admin credentials, or with --user)')
    .option('--user <user>', 'for endpoints without admin: sign in as this user (password from --password-file or MAILSHIFT_PASSWORD)')
    .option('--password-file <file>', 'file whose first line is the --user password')
    .option('--state <path>', 'state database')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: Opts) => {
      const options: TestOptions = testOptionsFrom(opts, 'mailbox');
      if (typeof opts.user === 'string') {
        options.user = opts.user;
        if (typeof opts.passwordFile === 'string') options.password = readPasswordFile(opts.passwordFile);
        else if (process.env.MAILSHIFT_PASSWORD) options.password = process.env.MAILSHIFT_PASSWORD;
        else throw usage(`No password for ${opts.user}: set MAILSHIFT_PASSWORD or pass --password-file FILE.`);
      }
      const result = await withService(opts, (s) => s.testEndpoint(name, options));
      process.stdout.write(opts.json === true ? `${JSON.stringify(result, null, 2)}\n` : renderTest(result));
      process.exitCode = result.exitCode;
    });

  addSettingOptions(
    endpoint.command('set')
      .description('Change settings of a migration endpoint; the connection is tested again when how the server is reached changes')
      .argument('<name>', 'endpoint name'),
    true,
  ).action(async (name: string, opts: Opts) => {
    const json = opts.json === true;
    try {
      const patch = await patchFromSet(opts);
      const { endpoint: updated, test } = await withService(opts, (s) => s.updateEndpoint(name, patch, { verify: opts.skipVerification !== true, ...testOptionsFrom(opts, 'testMailbox') }));
      const view = await withService(opts, (s) => s.describeEndpoint(updated.name));
      if (json) {
        process.stdout.write(`${JSON.stringify({ status: 'updated', endpoint: viewJson(view), test }, null, 2)}\n`);
      } else {
        process.stdout.write(`Updated the migration endpoint "${updated.name}"${test ? `: ${testSummary(test)}` : ''}.\n`);
        for (const w of view.warnings) process.stderr.write(`WARNING: ${w.message}\n`);
      }
    } catch (err) {
      fail(err, json, 'Nothing was changed.');
    }
  });

  endpoint.command('remove')
    .description('Delete a migration endpoint (refused while a batch uses it)')
    .argument('<name>', 'endpoint name')
    .option('--state <path>', 'state database')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: Opts) => {
      const removed = await withService(opts, (s) => s.removeEndpoint(name));
      process.stdout.write(opts.json === true ? `${JSON.stringify({ status: 'removed', name: removed.name }, null, 2)}\n` : `Removed the migration endpoint "${removed.name}".\n`);
    });
}
