/**
 * Use cases of migration endpoints (issue 3 §1): create, list, get, update, remove, test, and the
 * EndpointCredentialsResolver the batch runner opens mailboxes with.
 *
 * Invariants:
 * - An endpoint is written in one statement, after validation and (unless skipped) a passing
 *   connection test: a failure leaves nothing half-written.
 * - The admin password exists in plaintext only in memory: it is encrypted by the secret box
 *   before it reaches the store, and decrypted only in `connectionFor` / `testEndpoint`.
 * - Security `none` needs an explicit allowInsecure; it and acceptUntrustedCertificates are
 *   recorded and surface as warnings (endpointWarnings) everywhere an endpoint is shown.
 */
import { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { Kysely } from 'kysely';
import { ImapFlow } from 'imapflow';
import { ERROR_CATALOG, MailshiftError, type ErrorCode } from '../domain/errors.js';
import type { ConnectionSettings, SecurityMode } from '../domain/mail-types.js';
import { runDiagnose } from '../diagnose/diagnose-probe.js';
import type { DiagnoseVerdict } from '../diagnose/diagnose-codes.js';
import type { DiagnoseOptions, DiagnoseReport } from '../diagnose/diagnose-types.js';
import { ImapWire } from '../diagnose/imap-wire.js';
import { connectTcp, startTlsPreamble, tlsHandshake } from '../diagnose/transport.js';
import { ADMIN_LOGIN_FORMATS, adminLoginFor, loginTemplateProblem } from '../endpoint/admin-login.js';
import type { AdminLoginFormat, AuthenticationMethod, Endpoint, EndpointCredentialsResolver, EndpointTls } from '../endpoint/endpoint-model.js';
import { endpointWarnings, type EndpointWarning } from '../endpoint/endpoint-warnings.js';
import { imapFlowOptionsFor, tlsOptionsFor } from '../imap/connect-options.js';
import { EndpointRepository, type EndpointLastTest, type EndpointValues, type StoredEndpoint } from '../store/endpoint-repository.js';
import type { Database } from '../store/schema.js';
import type { SecretBox } from '../store/secret-box.js';

/** The seeds' connection timeout ("timed out after 00:00:15"). */
export const ENDPOINT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_CONCURRENT_MIGRATIONS = 20;
export const MAX_CONCURRENT_MIGRATIONS_LIMIT = 100;
export const DEFAULT_MAX_CONCURRENT_INCREMENTAL_SYNCS = 10;
const ADMIN_PASSWORD_PURPOSE = 'endpoint-admin-password';
const SECURITY_MODES: readonly SecurityMode[] = ['ssl', 'starttls', 'none'];
const AUTH_METHODS: readonly AuthenticationMethod[] = ['login', 'plain', 'xoauth2'];
const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
/** Verdicts of a certificate that could be accepted with acceptUntrustedCertificates. */
const CERTIFICATE_TRUST_CODES = new Set(['TLS_UNTRUSTED', 'TLS_SELF_SIGNED', 'TLS_INCOMPLETE_CHAIN', 'TLS_INTERCEPTED', 'TLS_NAME_MISMATCH', 'TLS_EXPIRED']);

export interface AdminInput {
  user: string;
  password: string;
  format: AdminLoginFormat;
  loginTemplate?: string | null;
}

export interface EndpointInput {
  name: string;
  host: string;
  /** Default 993 for ssl, 143 otherwise. */
  port?: number;
  /** Default ssl. */
  security?: SecurityMode;
  /** Required with security none. */
  allowInsecure?: boolean;
  /** Default plain with the authzid admin format, else login. */
  authentication?: AuthenticationMethod;
  admin?: AdminInput | null;
  maxConcurrentMigrations?: number;
  maxConcurrentIncrementalSyncs?: number;
  tls?: Partial<EndpointTls>;
  acceptUntrustedCertificates?: boolean;
  compress?: boolean;
}

/** `endpoint set`: only the given fields change; `null` clears an optional setting. */
export interface EndpointPatch {
  name?: string;
  host?: string;
  port?: number;
  security?: SecurityMode;
  allowInsecure?: boolean;
  authentication?: AuthenticationMethod;
  /** null removes the admin credentials; a partial object changes only those fields (password optional). */
  admin?: Partial<AdminInput> | null;
  maxConcurrentMigrations?: number;
  maxConcurrentIncrementalSyncs?: number;
  tls?: { minVersion?: EndpointTls['minVersion']; ciphers?: string | null; caPem?: string | null; servername?: string | null };
  acceptUntrustedCertificates?: boolean;
  compress?: boolean;
}

export interface TestOptions {
  /** Also test signing in on behalf of this mailbox through the endpoint's admin credentials. */
  mailbox?: string;
  /** Or test signing in with these user credentials (endpoints without admin). */
  user?: string;
  password?: string;
}

export interface WriteOptions extends TestOptions {
  /** Run the connection test first and refuse the change when it fails. Default true. */
  verify?: boolean;
}

export interface EndpointTestResult {
  endpoint: string;
  ok: boolean;
  /** 'tested' when the credentials were tried; 'skipped' otherwise (see notes). */
  login: 'tested' | 'skipped';
  /** The login name sent (never the password); null when no login was tried. */
  loginUser: string | null;
  authzid: string | null;
  /** The verdict of the test: DIAGNOSE_OK, or the first failure with its cause and fix. */
  verdict: DiagnoseVerdict;
  exitCode: number;
  /** Set when the certificate failed validation but the endpoint accepts untrusted certificates. */
  untrustedCertificateAccepted: DiagnoseVerdict | null;
  warnings: EndpointWarning[];
  notes: string[];
  report: DiagnoseReport;
}

/** What `show`/`list` print: the endpoint, whether a password is stored, warnings — never a secret. */
export interface EndpointView {
  endpoint: Endpoint;
  adminPasswordSet: boolean;
  warnings: EndpointWarning[];
  lastTest: EndpointLastTest | null;
}

/** The connection test failed: carries the verdict's code (exit code by its class) and wording. */
export class EndpointTestFailed extends MailshiftError {
  private readonly verdictRemediation: string;

  constructor(readonly result: EndpointTestResult) {
    const code = (result.verdict.code in ERROR_CATALOG ? result.verdict.code : 'IMAP_PROTOCOL') as ErrorCode;
    super(code, {});
    this.message = result.verdict.message;
    this.verdictRemediation = result.verdict.remediation;
  }

  override get remediation(): string {
    return this.verdictRemediation;
  }
}

export interface EndpointServiceDeps {
  db: Kysely<Database>;
  secrets: SecretBox;
  /** The diagnose probe; tests may substitute it. */
  probe?: (options: DiagnoseOptions) => Promise<DiagnoseReport>;
  now?: () => number;
  connectTimeoutMs?: number;
}

const invalid = (detail: string): MailshiftError => new MailshiftError('ENDPOINT_INVALID', { detail });

function checkInteger(value: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${what} must be a whole number from ${min} to ${max}, not ${value}.`);
  return value;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!/^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$/u.test(trimmed)) {
    throw invalid(`the name "${name}" must be 1 to 64 letters, digits, spaces, dots, underscores or hyphens, starting with a letter or digit.`);
  }
  return trimmed;
}

function checkHost(host: string): string {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1');
  if (h === '' || h.length > 253 || /[\s/\\@]/.test(h)) throw invalid(`"${host}" is not a host name or IP address.`);
  return h;
}

function checkText(value: string | null | undefined, what: string): string | null {
  if (value === null || value === undefined) return null;
  const v = value.trim();
  if (v === '') return null;
  if (/[\r\n\0]/.test(v)) throw invalid(`${what} contains a line break or NUL.`);
  return v;
}

/** The CA bundle must hold at least one parseable PEM certificate. */
function checkCaPem(pem: string | null | undefined): string | null {
  if (pem === null || pem === undefined || pem.trim() === '') return null;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw invalid('the CA bundle contains no PEM certificate (-----BEGIN CERTIFICATE-----).');
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      throw invalid(`certificate ${i + 1} of the CA bundle is not a valid PEM certificate.`);
    }
  }
  return pem;
}

export function caCertificateCount(pem: string | null): number {
  return pem ? (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length : 0;
}

interface Normalised {
  values: EndpointValues;
  /** Plaintext admin password to encrypt, or undefined to keep the stored ciphertext. */
  adminPassword: string | undefined;
}

/** Validates and completes a full set of values (create), or the merge of a patch (update). */
function normalise(
  input: Omit<EndpointInput, 'admin'> & { admin?: (Omit<AdminInput, 'password'> & { password?: string }) | null },
  context: { previous: Endpoint | null; authenticationExplicit: boolean },
): Normalised {
  const name = checkName(input.name);
  const host = checkHost(input.host);
  const security = input.security ?? 'ssl';
  if (!SECURITY_MODES.includes(security)) throw invalid(`security must be ssl, starttls or none, not "${String(security)}".`);
  const becameInsecure = security === 'none' && context.previous?.security !== 'none';
  if (becameInsecure && input.allowInsecure !== true) throw new MailshiftError('ENDPOINT_INSECURE_REFUSED', { host });
  const port = checkInteger(input.port ?? (security === 'ssl' ? 993 : 143), 'The port', 1, 65535);

  let admin: Endpoint['admin'] = null;
  let adminPassword: string | undefined;
  if (input.admin) {
    const user = checkText(input.admin.user, 'The admin user');
    if (!user) throw invalid('the admin user is empty.');
    const format = input.admin.format;
    if (!ADMIN_LOGIN_FORMATS.includes(format)) throw invalid(`the admin format must be one of ${ADMIN_LOGIN_FORMATS.join(', ')}, not "${String(format)}".`);
    let loginTemplate: string | null = null;
    if (format === 'template') {
      loginTemplate = input.admin.loginTemplate ?? null;
      if (loginTemplate === null) throw invalid('the admin format "template" needs a login template (--login-template), e.g. "{user}*{admin}".');
      const problem = loginTemplateProblem(loginTemplate);
      if (problem) throw invalid(`${problem}.`);
    } else if (input.admin.loginTemplate) {
      throw invalid(`a login template is only used with the admin format "template", not "${format}".`);
    }
    if (format === 'dovecot' && user.includes('*')) throw invalid('the admin user must be the admin\'s own name (without *): the format "dovecot" builds user*admin itself.');
    if (format === 'mirapoint' && user.includes('#')) throw invalid('the admin user must be the admin\'s own name (without #): the format "mirapoint" builds #user@domain#admin# itself.');
    if (input.admin.password !== undefined) {
      if (input.admin.password === '') throw invalid('the admin password is empty.');
      if (/[\r\n\0]/.test(input.admin.password)) throw invalid('the admin password contains a line break or NUL, which IMAP cannot carry.');
      adminPassword = input.admin.password;
    } else if (!context.previous?.admin) {
      throw invalid('admin credentials need a password (--admin-password-file FILE or MAILSHIFT_ADMIN_PASSWORD).');
    }
    admin = { user, format, loginTemplate };
  }

  let authentication = input.authentication ?? (admin?.format === 'authzid' ? 'plain' : 'login');
  if (!AUTH_METHODS.includes(authentication)) throw invalid(`authentication must be login or plain, not "${String(authentication)}".`);
  if (authentication === 'xoauth2') throw invalid('authentication xoauth2 is not supported yet; use login or plain.');
  if (admin?.format === 'authzid' && authentication === 'login') {
    if (context.authenticationExplicit) throw invalid('the admin format "authzid" needs authentication plain: LOGIN cannot carry an authorization identity (RFC 4616).');
    authentication = 'plain';
  }

  const maxConcurrentMigrations = checkInteger(input.maxConcurrentMigrations ?? DEFAULT_MAX_CONCURRENT_MIGRATIONS,
    'The maximum number of concurrent migrations', 1, MAX_CONCURRENT_MIGRATIONS_LIMIT);
  const incremental = input.maxConcurrentIncrementalSyncs ?? Math.min(DEFAULT_MAX_CONCURRENT_INCREMENTAL_SYNCS, maxConcurrentMigrations);
  checkInteger(incremental, 'The maximum number of concurrent incremental syncs', 1, MAX_CONCURRENT_MIGRATIONS_LIMIT);
  if (incremental > maxConcurrentMigrations) {
    throw invalid(`the maximum number of concurrent incremental syncs (${incremental}) cannot exceed the maximum number of concurrent migrations (${maxConcurrentMigrations}).`);
  }

  const minVersion = input.tls?.minVersion ?? null;
  if (minVersion !== null && !(TLS_VERSIONS as readonly string[]).includes(minVersion)) {
    throw invalid(`the minimum TLS version must be one of ${TLS_VERSIONS.join(', ')}, not "${String(minVersion)}".`);
  }
  const tlsSettings: EndpointTls = {
    minVersion,
    ciphers: checkText(input.tls?.ciphers, 'The cipher list'),
    caPem: checkCaPem(input.tls?.caPem),
    servername: checkText(input.tls?.servername, 'The server name'),
  };
  if (security === 'none' && (tlsSettings.caPem || tlsSettings.minVersion || tlsSettings.ciphers || tlsSettings.servername || input.acceptUntrustedCertificates)) {
    throw invalid('TLS settings (CA, minimum version, ciphers, server name, accepting untrusted certificates) have no effect with security none.');
  }

  return {
    values: {
      name, host, port, security, authentication, admin,
      maxConcurrentMigrations,
      maxConcurrentIncrementalSyncs: incremental,
      tls: tlsSettings,
      acceptUntrustedCertificates: input.acceptUntrustedCertificates === true,
      compress: input.compress === true,
    },
    adminPassword,
  };
}

/** ConnectionSettings of an endpoint without credentials (host, security, TLS, timeout). */
function baseSettings(endpoint: Endpoint, connectTimeoutMs: number): Omit<ConnectionSettings, 'user' | 'password'> {
  return {
    host: endpoint.host,
    port: endpoint.port,
    security: endpoint.security,
    ...(endpoint.authentication === 'login' || endpoint.authentication === 'plain' ? { loginMethod: endpoint.authentication } : {}),
    ...(endpoint.tls.caPem ? { ca: endpoint.tls.caPem } : {}),
    ...(endpoint.acceptUntrustedCertificates ? { acceptUntrustedCertificates: true } : {}),
    ...(endpoint.tls.minVersion ? { minTlsVersion: endpoint.tls.minVersion } : {}),
    ...(endpoint.tls.ciphers ? { ciphers: endpoint.tls.ciphers } : {}),
    ...(endpoint.tls.servername ? { servername: endpoint.tls.servername } : {}),
    ...(endpoint.compress ? { compress: true } : {}),
    connectTimeoutMs,
  };
}

/**
 * With acceptUntrustedCertificates the real sessions skip certificate validation, which the
 * diagnose probe never does: after a certificate verdict, check that the server is reachable the
 * way a migration would reach it — a login through imapflow when there are credentials, else the
 * TLS handshake and IMAP greeting.
 */
async function probeWithoutVerification(settings: ConnectionSettings, withLogin: boolean): Promise<void> {
  if (withLogin) {
    const client = new ImapFlow(imapFlowOptionsFor(settings));
    client.on('error', () => { /* surfaced by connect() */ });
    try {
      await client.connect();
      await client.logout();
    } finally {
      client.close();
    }
    return;
  }
  const timeout = settings.connectTimeoutMs ?? ENDPOINT_CONNECT_TIMEOUT_MS;
  const socket: net.Socket = await connectTcp(settings.host, settings.port, timeout);
  let secure: tls.TLSSocket | null = null;
  try {
    if (settings.security === 'starttls') {
      await startTlsPreamble(socket, timeout);
      secure = await tlsHandshake(socket, tlsOptionsFor(settings), timeout);
    } else {
      secure = await tlsHandshake(socket, tlsOptionsFor(settings), timeout);
      const greeting = await new ImapWire(secure, timeout).readGreeting();
      if (greeting.kind !== 'OK' && greeting.kind !== 'PREAUTH') throw new Error(`unexpected greeting: ${greeting.raw.slice(0, 80)}`);
    }
  } finally {
    secure?.destroy();
    socket.destroy();
  }
}

export class EndpointService implements EndpointCredentialsResolver {
  private readonly repo: EndpointRepository;
  private readonly probe: (options: DiagnoseOptions) => Promise<DiagnoseReport>;
  private readonly now: () => number;
  private readonly connectTimeoutMs: number;

  constructor(private readonly deps: EndpointServiceDeps) {
    this.repo = new EndpointRepository(deps.db);
    this.probe = deps.probe ?? ((o) => runDiagnose(o));
    this.now = deps.now ?? Date.now;
    this.connectTimeoutMs = deps.connectTimeoutMs ?? ENDPOINT_CONNECT_TIMEOUT_MS;
  }

  // ------------------------------------------------------------------ reads

  async getEndpoint(id: number): Promise<Endpoint> {
    const stored = await this.repo.findById(id);
    if (!stored) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name: `#${id}` });
    return stored.endpoint;
  }

  async getEndpointByName(name: string): Promise<Endpoint> {
    return (await this.stored(name)).endpoint;
  }

  async describeEndpoint(name: string): Promise<EndpointView> {
    return this.view(await this.stored(name));
  }

  async listEndpoints(): Promise<EndpointView[]> {
    return (await this.repo.list()).map((s) => this.view(s));
  }

  // ------------------------------------------------------------------ writes

  /** Validates, tests the connection (unless verify is false), then stores the endpoint. */
  async createEndpoint(input: EndpointInput, options: WriteOptions = {}): Promise<{ endpoint: Endpoint; test: EndpointTestResult | null }> {
    const { values, adminPassword } = normalise(input, { previous: null, authenticationExplicit: input.authentication !== undefined });
    if (await this.repo.findByName(values.name)) throw new MailshiftError('ENDPOINT_EXISTS', { name: values.name });
    const draft: Endpoint = { ...values, id: 0, createdAt: 0, updatedAt: 0 };
    let test: EndpointTestResult | null = null;
    if (options.verify !== false) {
      test = await this.runTest(draft, adminPassword ?? null, options);
      if (!test.ok) throw new EndpointTestFailed(test);
    }
    const ciphertext = adminPassword !== undefined ? this.deps.secrets.encrypt(adminPassword, ADMIN_PASSWORD_PURPOSE) : null;
    const now = this.now();
    const stored = await this.repo.insert(values, ciphertext, now);
    if (test) await this.repo.recordTest(stored.endpoint.id, { at: now, ok: test.ok, code: test.verdict.code });
    return { endpoint: stored.endpoint, test };
  }

  /**
   * Changes the given settings. When anything that decides how the server is reached changes
   * (host, port, security, TLS, admin credentials), the connection is tested first unless verify
   * is false; on failure nothing changes.
   */
  async updateEndpoint(name: string, patch: EndpointPatch, options: WriteOptions = {}): Promise<{ endpoint: Endpoint; test: EndpointTestResult | null }> {
    const current = await this.stored(name);
    const prev = current.endpoint;
    let admin: (Omit<AdminInput, 'password'> & { password?: string }) | null;
    if (patch.admin === null) admin = null;
    else if (patch.admin === undefined) admin = prev.admin ? { ...prev.admin } : null;
    else {
      const user = patch.admin.user ?? prev.admin?.user;
      const format = patch.admin.format ?? prev.admin?.format ?? 'authzid';
      if (!user) throw invalid('admin credentials need an admin user (--admin-user).');
      const userChanged = prev.admin !== null && user !== prev.admin.user;
      if (userChanged && patch.admin.password === undefined) throw invalid('a new admin user needs its password (--admin-password-file FILE or MAILSHIFT_ADMIN_PASSWORD).');
      admin = {
        user, format,
        loginTemplate: patch.admin.loginTemplate !== undefined ? patch.admin.loginTemplate : format === 'template' ? prev.admin?.loginTemplate ?? null : null,
        ...(patch.admin.password !== undefined ? { password: patch.admin.password } : {}),
      };
    }
    const tlsPatch = patch.tls ?? {};
    const merged = {
      name: patch.name ?? prev.name,
      host: patch.host ?? prev.host,
      port: patch.port ?? (patch.security !== undefined && patch.security !== prev.security && prev.port === (prev.security === 'ssl' ? 993 : 143) ? undefined : prev.port),
      security: patch.security ?? prev.security,
      allowInsecure: patch.allowInsecure === true,
      authentication: patch.authentication ?? (patch.admin?.format === 'authzid' ? undefined : prev.authentication),
      admin,
      maxConcurrentMigrations: patch.maxConcurrentMigrations ?? prev.maxConcurrentMigrations,
      maxConcurrentIncrementalSyncs: patch.maxConcurrentIncrementalSyncs
        ?? (patch.maxConcurrentMigrations !== undefined ? Math.min(prev.maxConcurrentIncrementalSyncs, patch.maxConcurrentMigrations) : prev.maxConcurrentIncrementalSyncs),
      tls: {
        minVersion: tlsPatch.minVersion !== undefined ? tlsPatch.minVersion : prev.tls.minVersion,
        ciphers: tlsPatch.ciphers !== undefined ? tlsPatch.ciphers : prev.tls.ciphers,
        caPem: tlsPatch.caPem !== undefined ? tlsPatch.caPem : prev.tls.caPem,
        servername: tlsPatch.servername !== undefined ? tlsPatch.servername : prev.tls.servername,
      },
      acceptUntrustedCertificates: patch.acceptUntrustedCertificates ?? prev.acceptUntrustedCertificates,
      compress: patch.compress ?? prev.compress,
    };
    const { values, adminPassword } = normalise(merged, { previous: prev, authenticationExplicit: patch.authentication !== undefined });
    if (values.name !== prev.name) {
      const other = await this.repo.findByName(values.name);
      if (other && other.endpoint.id !== prev.id) throw new MailshiftError('ENDPOINT_EXISTS', { name: values.name });
    }
    const reachChanged = values.host !== prev.host || values.port !== prev.port || values.security !== prev.security
      || JSON.stringify(values.tls) !== JSON.stringify(prev.tls) || values.acceptUntrustedCertificates !== prev.acceptUntrustedCertificates
      || JSON.stringify(values.admin) !== JSON.stringify(prev.admin) || adminPassword !== undefined || values.authentication !== prev.authentication;
    const draft: Endpoint = { ...values, id: prev.id, createdAt: prev.createdAt, updatedAt: prev.updatedAt };
    let test: EndpointTestResult | null = null;
    if (options.verify !== false && (reachChanged || options.mailbox !== undefined)) {
      const password = adminPassword ?? (values.admin && current.adminPasswordCiphertext ? this.decryptAdmin(current.adminPasswordCiphertext) : null);
      test = await this.runTest(draft, password, options);
      if (!test.ok) throw new EndpointTestFailed(test);
    }
    let ciphertext: string | null = null;
    if (values.admin) ciphertext = adminPassword !== undefined ? this.deps.secrets.encrypt(adminPassword, ADMIN_PASSWORD_PURPOSE) : current.adminPasswordCiphertext;
    const now = this.now();
    const stored = await this.repo.update(prev.id, values, ciphertext, now);
    if (test) await this.repo.recordTest(prev.id, { at: now, ok: test.ok, code: test.verdict.code });
    return { endpoint: stored.endpoint, test };
  }

  /** Deletes the endpoint; ENDPOINT_IN_USE while a batch uses it as source or target. */
  async removeEndpoint(name: string): Promise<Endpoint> {
    return await this.deps.db.transaction().execute(async (trx) => {
      const repo = new EndpointRepository(trx);
      const stored = await repo.findByName(name);
      if (!stored) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name });
      const batches = await repo.batchesReferencing(stored.endpoint.id);
      if (batches.length > 0) throw new MailshiftError('ENDPOINT_IN_USE', { name: stored.endpoint.name, batches: batches.map((b) => `"${b}"`).join(', ') });
      await repo.delete(stored.endpoint.id);
      return stored.endpoint;
    });
  }

  // ------------------------------------------------------------------ test

  /** Runs the connection test of a stored endpoint and records its outcome. */
  async testEndpoint(name: string, options: TestOptions = {}): Promise<EndpointTestResult> {
    const stored = await this.stored(name);
    const needsAdminPassword = stored.endpoint.admin !== null && options.mailbox !== undefined;
    const password = needsAdminPassword && stored.adminPasswordCiphertext ? this.decryptAdmin(stored.adminPasswordCiphertext) : null;
    const result = await this.runTest(stored.endpoint, password, options);
    await this.repo.recordTest(stored.endpoint.id, { at: this.now(), ok: result.ok, code: result.verdict.code });
    return result;
  }

  // ------------------------------------------------------------------ resolver

  /**
   * Settings to open `login.mailbox` through `endpoint`: with the admin credentials in the
   * endpoint's format when it has an admin, else with the per-user credentials (from the CSV).
   */
  async connectionFor(endpoint: Endpoint, login: { user: string; password: string | null; mailbox: string }): Promise<ConnectionSettings> {
    const base = baseSettings(endpoint, this.connectTimeoutMs);
    if (endpoint.admin) {
      const stored = await this.repo.findById(endpoint.id);
      if (!stored?.adminPasswordCiphertext) throw new MailshiftError('ENDPOINT_CREDENTIALS_MISSING', { name: endpoint.name, mailbox: login.mailbox });
      const password = this.decryptAdmin(stored.adminPasswordCiphertext);
      const wire = adminLoginFor(endpoint.admin, login.mailbox);
      return { ...base, user: wire.user, password, ...(wire.authzid ? { authzid: wire.authzid } : {}) };
    }
    if (login.password === null || login.password === '') throw new MailshiftError('ENDPOINT_CREDENTIALS_MISSING', { name: endpoint.name, mailbox: login.mailbox });
    return { ...base, user: login.user, password: login.password };
  }

  // ------------------------------------------------------------------ internals

  private async stored(name: string): Promise<StoredEndpoint> {
    const stored = await this.repo.findByName(name);
    if (!stored) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name });
    return stored;
  }

  private view(stored: StoredEndpoint): EndpointView {
    return {
      endpoint: stored.endpoint,
      adminPasswordSet: stored.adminPasswordCiphertext !== null,
      warnings: endpointWarnings(stored.endpoint),
      lastTest: stored.lastTest,
    };
  }

  private decryptAdmin(ciphertext: string): string {
    return this.deps.secrets.decrypt(ciphertext, ADMIN_PASSWORD_PURPOSE);
  }

  private async runTest(endpoint: Endpoint, adminPassword: string | null, options: TestOptions): Promise<EndpointTestResult> {
    const notes: string[] = [];
    let credentials: { user: string; password: string; authzid?: string } | null = null;
    if (options.mailbox !== undefined && endpoint.admin) {
      if (adminPassword === null) throw new MailshiftError('ENDPOINT_CREDENTIALS_MISSING', { name: endpoint.name, mailbox: options.mailbox });
      const wire = adminLoginFor(endpoint.admin, options.mailbox);
      credentials = { user: wire.user, password: adminPassword, ...(wire.authzid ? { authzid: wire.authzid } : {}) };
    } else if (options.user !== undefined && options.password !== undefined) {
      credentials = { user: options.user, password: options.password };
    } else if (options.mailbox !== undefined) {
      notes.push(`The endpoint has no admin credentials: give the mailbox's own user and password to test signing in to ${options.mailbox}.`);
    } else if (endpoint.admin) {
      notes.push('Admin credentials are stored but were not tried: give a mailbox (--mailbox ADDRESS) to test signing in on its behalf.');
    }
    const base = baseSettings(endpoint, this.connectTimeoutMs);
    const diagnoseOptions: DiagnoseOptions = {
      host: endpoint.host,
      port: endpoint.port,
      security: endpoint.security,
      timeoutMs: this.connectTimeoutMs,
      skipSize: true,
      ...(endpoint.tls.caPem ? { ca: endpoint.tls.caPem } : {}),
      ...(endpoint.tls.minVersion ? { minTlsVersion: endpoint.tls.minVersion } : {}),
      ...(endpoint.tls.ciphers ? { ciphers: endpoint.tls.ciphers } : {}),
      ...(endpoint.tls.servername ? { servername: endpoint.tls.servername } : {}),
      ...(credentials ? { user: credentials.user, password: credentials.password, ...(credentials.authzid ? { authzid: credentials.authzid } : {}) } : {}),
    };
    const report = await this.probe(diagnoseOptions);
    let ok = report.ok;
    let verdictOut = report.verdict;
    let exitCode = report.exitCode;
    let accepted: DiagnoseVerdict | null = null;
    if (!report.ok && report.failedStep === 'tls' && endpoint.acceptUntrustedCertificates && CERTIFICATE_TRUST_CODES.has(report.verdict.code)) {
      try {
        await probeWithoutVerification({ ...base, user: credentials?.user ?? '', password: credentials?.password ?? '', ...(credentials?.authzid ? { authzid: credentials.authzid } : {}) }, credentials !== null);
        ok = true;
        accepted = report.verdict;
        exitCode = 0;
        verdictOut = {
          code: 'DIAGNOSE_OK',
          message: `The connection to the server ${endpoint.host} works${credentials ? ' and the sign-in succeeded' : ''}, but only because this endpoint accepts untrusted certificates: ${report.verdict.message}`,
          remediation: report.verdict.remediation,
        };
        notes.push('Certificate validation is off for this endpoint (--accept-untrusted-certificates): the steps after TLS were checked without it.');
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        notes.push(`Even without certificate validation the server could not be used: ${credentials ? text.split(credentials.password).join('***') : text}`);
      }
    }
    return {
      endpoint: endpoint.name,
      ok,
      login: credentials ? 'tested' : 'skipped',
      loginUser: credentials?.user ?? null,
      authzid: credentials?.authzid ?? null,
      verdict: verdictOut,
      exitCode,
      untrustedCertificateAccepted: accepted,
      warnings: endpointWarnings(endpoint),
      notes,
      report,
    };
  }
}

export function createEndpointService(deps: EndpointServiceDeps): EndpointService {
  return new EndpointService(deps);
}
