/**
 * JSON Schemas of the API: request bodies, query strings and every response. The routes validate
 * with them (fastify/ajv) and serialize with them (fast-json-stringify: a response holds only the
 * properties named here, so a field that is not in a schema — a password, say — can never leave the
 * server), and the OpenAPI document is built from the very same objects (src/api/openapi.ts).
 *
 * `COMPONENTS` names the shared ones: in the OpenAPI document every occurrence of one of these
 * objects becomes a `$ref` to `#/components/schemas/<Name>`.
 */
import { BATCH_STATUSES, USER_STATUSES } from '../batch/batch-status.js';
import { DIAGNOSE_STEPS } from '../diagnose/diagnose-types.js';

type Schema = Record<string, unknown>;

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const bool = { type: 'boolean' } as const;
/** Also allows null; an enum gets null as one of its values (else ajv refuses null against the enum). */
const nullable = (s: Schema): Schema => ({ ...s, type: [s.type as string, 'null'], ...(Array.isArray(s.enum) ? { enum: [...(s.enum as unknown[]), null] } : {}) });
const epoch = nullable(int);
const arr = (items: Schema): Schema => ({ type: 'array', items });
const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), extra: Schema = {}): Schema =>
  ({ type: 'object', properties, required, additionalProperties: false, ...extra });
/** Response objects: every property is listed (and so serialized); unknown ones are dropped. */
const out = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: 'object', properties, required: Object.keys(properties), ...extra });

const TLS_VERSION = { type: 'string', enum: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] };
const SECURITY = { type: 'string', enum: ['ssl', 'starttls', 'none'] };
const ADMIN_FORMAT = { type: 'string', enum: ['authzid', 'dovecot', 'exchange', 'mirapoint', 'template'] };
export const BATCH_COMMANDS = ['start', 'stop', 'complete', 'remove', 'retry', 'add-users', 'sync-now'] as const;

// ---------------------------------------------------------------------------------- shared outputs

export const ErrorBody = {
  type: 'object',
  description: 'Every error: a catalog code, the message, and what to do (docs/errors.md). Some routes add fields (errors, test).',
  properties: { code: str, message: str, remediation: str },
  required: ['code', 'message', 'remediation'],
  additionalProperties: true,
};

export const ErrorInfo = out({ code: str, message: str, remediation: str });

export const CsvProblem = out({ code: str, message: str, remediation: str, row: nullable(int) });

export const CsvErrorBody = {
  ...out({ code: str, message: str, remediation: str, errors: arr(CsvProblem) }),
  description: 'API_CSV_INVALID: every problem of the CSV, with its row (header = row 1); nothing was created.',
};

export const Verdict = out({ code: str, message: str, remediation: str });

export const EndpointWarning = out({ code: str, message: str });

export const EndpointView = out({
  name: str, host: str, port: int, security: SECURITY,
  authentication: { type: 'string', enum: ['login', 'plain', 'xoauth2'] },
  admin: { type: ['object', 'null'], properties: { user: str, format: ADMIN_FORMAT, loginTemplate: nullable(str), passwordSet: bool }, required: ['user', 'format', 'loginTemplate', 'passwordSet'] },
  maxConcurrentMigrations: int, maxConcurrentIncrementalSyncs: int,
  tls: out({ minVersion: nullable(TLS_VERSION), ciphers: nullable(str), servername: nullable(str), caCertificates: int }),
  acceptUntrustedCertificates: bool,
  compress: bool,
  warnings: arr(EndpointWarning),
  lastTest: { type: ['object', 'null'], properties: { at: int, ok: bool, code: str }, required: ['at', 'ok', 'code'] },
  batches: arr(str),
  createdAt: int, updatedAt: int,
});

const DiagnoseNote = out({ code: str, severity: { type: 'string', enum: ['info', 'warn'] }, message: str, appliesTo: { type: 'string', enum: ['source', 'target', 'both'] } });

export const DiagnoseReport = out({
  target: out({
    host: str, port: int, security: SECURITY, user: nullable(str), authzid: nullable(str), servername: nullable(str),
    timeoutMs: int, minTlsVersion: nullable(str), ciphers: nullable(str), customCa: bool,
  }),
  ok: bool,
  failedStep: { type: ['string', 'null'], enum: [...DIAGNOSE_STEPS, null] },
  verdict: Verdict,
  exitCode: int,
  totalMs: num,
  steps: arr({
    type: 'object',
    properties: {
      step: { type: 'string', enum: [...DIAGNOSE_STEPS] },
      status: { type: 'string', enum: ['pass', 'fail', 'warn', 'skipped'] },
      ms: num, summary: str,
      details: { type: 'object', additionalProperties: true, description: 'Step facts: addresses, TLS protocol and certificate chain, capabilities, folders…' },
      notes: arr(DiagnoseNote),
      verdict: Verdict,
    },
    required: ['step', 'status', 'ms', 'summary', 'details', 'notes'],
  }),
});

export const EndpointTestResult = out({
  endpoint: str, ok: bool, login: { type: 'string', enum: ['tested', 'skipped'] },
  loginUser: nullable(str), authzid: nullable(str),
  verdict: Verdict, exitCode: int,
  untrustedCertificateAccepted: { type: ['object', 'null'], properties: Verdict.properties, required: Verdict.required },
  warnings: arr(EndpointWarning), notes: arr(str), report: DiagnoseReport,
});

export const EndpointTestFailedBody = {
  ...out({ code: str, message: str, remediation: str, test: EndpointTestResult }),
  description: 'The connection test failed; nothing was written. code is the verdict\'s catalog code.',
};

const USER_STATUS = { type: 'string', enum: [...USER_STATUSES] };
const BATCH_STATUS = { type: 'string', enum: [...BATCH_STATUSES] };
const statusCounts = { type: 'object', properties: Object.fromEntries(USER_STATUSES.map((s) => [s, int])), additionalProperties: false };

export const BatchSummary = out({
  name: str, status: BATCH_STATUS, source: str, target: str,
  createdAt: int, startedAt: epoch, completedAt: epoch, lastSyncAt: epoch,
  counts: out({ total: int, synced: int, finalized: int, failed: int, syncing: int, queued: int, stopped: int, byStatus: statusCounts }),
  percentSynced: num, itemsSynced: int, itemsSkipped: int, bytesSynced: int,
  warnings: arr(str),
  allowedCommands: arr({ type: 'string', enum: [...BATCH_COMMANDS] }),
});

export const BatchSettings = out({
  excludeFolders: arr(str), since: epoch, maxMessageSize: int, autoStart: bool, startAfter: epoch, completeAfter: epoch,
  notify: arr(str), incrementalIntervalMs: int,
});

export const BatchDetail = {
  ...BatchSummary,
  properties: { ...(BatchSummary.properties as Schema), settings: BatchSettings },
  required: [...(BatchSummary.required as string[]), 'settings'],
};

export const BatchUser = out({
  row: int, emailAddress: str, userName: str, status: USER_STATUS,
  itemsSynced: int, itemsSkipped: int, bytesSynced: int,
  itemsTotal: { ...nullable(int), description: 'Messages in the source folders when the last sync started (STATUS); null until counted.' },
  itemsPerSecond: { ...nullable(num), description: 'Items Synced per second, measured by the runner while the user syncs; null when not running.' },
  lastSyncAt: epoch, nextSyncAt: epoch, syncStartedAt: epoch,
  running: bool, attempts: int,
  error: { type: ['object', 'null'], properties: ErrorInfo.properties, required: ErrorInfo.required },
  warnings: { ...arr(str), description: 'What the last sync warned about (keywords the target dropped, a folder renamed, a connection limit); empty for none.' },
});

export const SkippedItem = out({ folder: str, date: int, subject: nullable(str), size: int, kind: str, reason: str, remediation: str });

export const BatchUserDetail = {
  ...BatchUser,
  properties: { ...(BatchUser.properties as Schema), skippedItems: arr(SkippedItem) },
  required: [...(BatchUser.required as string[]), 'skippedItems'],
};

export const BatchReport = out({
  batch: out({
    name: str, status: str, source: str, target: str, createdAt: int, startedAt: epoch, completedAt: epoch,
    totals: out({ users: int, synced: int, failed: int, itemsSynced: int, itemsSkipped: int, bytesSynced: int }),
    warnings: arr(str),
  }),
  users: arr(out({
    emailAddress: str, status: str, itemsSynced: int, itemsSkipped: int, bytesSynced: int, lastSyncAt: epoch,
    error: { type: ['object', 'null'], properties: ErrorInfo.properties, required: ErrorInfo.required },
  })),
  skippedItems: arr(out({ emailAddress: str, folder: str, date: int, subject: nullable(str), size: int, kind: str })),
});

// ---------------------------------------------------------------------------------- inputs

const adminInput = (create: boolean): Schema => ({
  type: ['object', 'null'],
  properties: {
    user: { type: 'string', minLength: 1 },
    password: { type: 'string', minLength: 1, writeOnly: true, description: 'Write-only: never returned.' },
    format: ADMIN_FORMAT,
    loginTemplate: nullable(str),
  },
  required: create ? ['user', 'password'] : [],
  additionalProperties: false,
});

const endpointFields = (create: boolean): Record<string, Schema> => ({
  name: { type: 'string', minLength: 1, maxLength: 64 },
  host: { type: 'string', minLength: 1, maxLength: 253 },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  security: SECURITY,
  allowInsecure: bool,
  authentication: { type: 'string', enum: ['login', 'plain'] },
  admin: adminInput(create),
  maxConcurrentMigrations: { type: 'integer', minimum: 1, maximum: 100 },
  maxConcurrentIncrementalSyncs: { type: 'integer', minimum: 1, maximum: 100 },
  tls: obj({ minVersion: nullable(TLS_VERSION), ciphers: nullable(str), caPem: nullable(str), servername: nullable(str) }, []),
  acceptUntrustedCertificates: bool,
  compress: { type: 'boolean', description: 'Use COMPRESS=DEFLATE when the server offers it (for slow links; off by default).' },
  skipVerification: { type: 'boolean', description: 'Save without the connection test.' },
  testMailbox: { type: 'string', minLength: 1, description: 'Also test signing in on behalf of this mailbox with the admin credentials.' },
});

export const EndpointCreate = obj(endpointFields(true), ['name', 'host']);
export const EndpointPatch = obj(endpointFields(false), []);

export const EndpointTestRequest = obj({
  mailbox: { type: 'string', minLength: 1 },
  user: { type: 'string', minLength: 1 },
  password: { type: 'string', writeOnly: true },
}, []);

export const DiagnoseRequest = obj({
  host: { type: 'string', minLength: 1, maxLength: 253 },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  security: SECURITY,
  user: { type: 'string', minLength: 1 },
  password: { type: 'string', writeOnly: true },
  authzid: { type: 'string', minLength: 1 },
  caPem: str,
  minTlsVersion: TLS_VERSION,
  ciphers: str,
  servername: str,
  timeoutMs: { type: 'integer', minimum: 1000, maximum: 60_000 },
  skipSize: bool,
}, ['host']);

const ISO_DATE = { type: ['string', 'null'], pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:?\\d{2})?)?$' };
const CSV_TEXT = { type: 'string', description: 'The users CSV, as text: EmailAddress,UserName,Password[,UserRoot][,TargetUserName,TargetPassword].', writeOnly: true };

export const BatchCreate = obj({
  name: { type: 'string', minLength: 1, maxLength: 64 },
  csv: CSV_TEXT,
  source: { type: 'string', minLength: 1 },
  target: { type: 'string', minLength: 1 },
  excludeFolders: arr({ type: 'string', minLength: 1 }),
  since: ISO_DATE,
  maxMessageSize: { type: 'integer', minimum: 1 },
  autoStart: bool,
  startAfter: ISO_DATE,
  completeAfter: ISO_DATE,
  notify: arr({ type: 'string', pattern: '^[^\\s@]+@[^\\s@]+$' }),
  incrementalIntervalMs: { type: 'integer', minimum: 1000 },
  probeSource: bool,
}, ['name', 'csv', 'source', 'target']);

export const CsvValidateRequest = obj({ csv: CSV_TEXT, target: { type: 'string', minLength: 1 } }, ['csv']);
export const AddUsersRequest = obj({ csv: CSV_TEXT }, ['csv']);

export const NameParams = obj({ name: { type: 'string', minLength: 1 } });
export const UserParams = obj({ name: { type: 'string', minLength: 1 }, address: { type: 'string', minLength: 1 } });

export const UsersQuery = obj({
  status: { type: 'string', description: 'Comma-separated user statuses; empty = all.' },
  q: { type: 'string', maxLength: 320, description: 'Case-insensitive substring of EmailAddress or UserName.' },
  warned: { type: 'boolean', description: 'Only the users whose last sync warned about something (BatchUser.warnings not empty).' },
  offset: { type: 'integer', minimum: 0, default: 0 },
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
  sort: { type: 'string', enum: ['row', 'email', 'status', 'lastSync', 'itemsSynced'], default: 'row' },
}, []);

export const EventsQuery = obj({
  ticket: str,
  token: str,
  batch: { type: 'string', minLength: 1 },
  types: {
    type: 'string', pattern: '^(snapshot|batch|batch-removed|user)(,(snapshot|batch|batch-removed|user))*$',
    description: 'Comma-separated event types to receive (snapshot, batch, batch-removed, user); absent = all.',
  },
}, []);

/** Shared schemas, by the name they get under components.schemas in the OpenAPI document. */
export const COMPONENTS: Record<string, Schema> = {
  Error: ErrorBody, ErrorInfo, CsvProblem, CsvErrorBody, Verdict, EndpointWarning, EndpointView, DiagnoseReport, EndpointTestResult,
  EndpointTestFailedBody, BatchSummary, BatchSettings, BatchDetail, BatchUser, SkippedItem, BatchUserDetail, BatchReport,
  EndpointCreate, EndpointPatch, EndpointTestRequest, DiagnoseRequest, BatchCreate, CsvValidateRequest, AddUsersRequest,
};

/** Error responses a route may give, by status. */
export function errors(...statuses: number[]): Record<number, Schema> {
  const map: Record<number, Schema> = {};
  for (const s of statuses) map[s] = s === 422 ? EndpointTestFailedBody : ErrorBody;
  return map;
}
