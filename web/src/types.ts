/** The REST API's shapes, as docs/api.md defines them (the dashboard's only contract with the service). */

export type Epoch = number | null;
export interface ErrorInfo { code: string; message: string; remediation: string }

export type Security = 'ssl' | 'starttls' | 'none';
export type AdminFormat = 'authzid' | 'dovecot' | 'exchange' | 'mirapoint' | 'template';
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface EndpointView {
  name: string;
  host: string;
  port: number;
  security: Security;
  authentication: 'login' | 'plain' | 'xoauth2';
  admin: null | { user: string; format: AdminFormat; loginTemplate: string | null; passwordSet: boolean };
  maxConcurrentMigrations: number;
  maxConcurrentIncrementalSyncs: number;
  tls: { minVersion: TlsVersion | null; ciphers: string | null; servername: string | null; caCertificates: number };
  acceptUntrustedCertificates: boolean;
  compress: boolean;
  warnings: Array<{ code: string; message: string }>;
  lastTest: null | { at: number; ok: boolean; code: string };
  batches: string[];
  createdAt: number;
  updatedAt: number;
}

export type DiagnoseStepName = 'dns' | 'tcp' | 'tls' | 'imap' | 'login' | 'size';
export interface DiagnoseNote { code: string; severity: 'info' | 'warn'; message: string; appliesTo: 'source' | 'target' | 'both' }
export interface DiagnoseStep {
  step: DiagnoseStepName;
  status: 'pass' | 'fail' | 'warn' | 'skipped';
  ms: number;
  summary: string;
  details: Record<string, unknown>;
  notes: DiagnoseNote[];
  verdict?: ErrorInfo;
}
export interface DiagnoseReport {
  target: { host: string; port: number; security: Security; user: string | null; authzid: string | null; servername: string | null; timeoutMs: number; minTlsVersion: string | null; ciphers: string | null; customCa: boolean };
  ok: boolean;
  failedStep: DiagnoseStepName | null;
  verdict: ErrorInfo;
  exitCode: number;
  totalMs: number;
  steps: DiagnoseStep[];
}

export interface EndpointTestResult {
  endpoint: string;
  ok: boolean;
  login: 'tested' | 'skipped';
  loginUser: string | null;
  authzid: string | null;
  verdict: ErrorInfo;
  exitCode: number;
  untrustedCertificateAccepted: null | ErrorInfo;
  warnings: Array<{ code: string; message: string }>;
  notes: string[];
  report: DiagnoseReport;
}

export interface CertificateDescription {
  subject: string;
  issuer: string;
  subjectAltNames?: string[];
  validFrom: string;
  validTo: string;
  serialNumber?: string;
  fingerprint256?: string;
  selfSigned?: boolean;
  isCa?: boolean;
}

export type BatchStatus = 'Created' | 'Starting' | 'Syncing' | 'Synced' | 'SyncedWithErrors' | 'IncrementalSyncing' | 'Stopping'
  | 'Stopped' | 'Completing' | 'Completed' | 'CompletedWithErrors' | 'Failed' | 'Removing';
export type UserStatus = 'Queued' | 'Syncing' | 'Synced' | 'IncrementalSyncing' | 'IncrementalSynced' | 'Stopped' | 'Failed'
  | 'IncrementalFailed' | 'Completing' | 'Completed';
export const USER_STATUSES: UserStatus[] = ['Queued', 'Syncing', 'Synced', 'IncrementalSyncing', 'IncrementalSynced', 'Stopped', 'Failed', 'IncrementalFailed', 'Completing', 'Completed'];
export type BatchCommand = 'start' | 'stop' | 'complete' | 'remove' | 'retry' | 'add-users' | 'sync-now';

export interface BatchSummary {
  name: string;
  status: BatchStatus;
  source: string;
  target: string;
  createdAt: number;
  startedAt: Epoch;
  completedAt: Epoch;
  lastSyncAt: Epoch;
  counts: {
    total: number;
    synced: number;
    finalized: number;
    failed: number;
    syncing: number;
    queued: number;
    stopped: number;
    byStatus: Partial<Record<UserStatus, number>>;
  };
  percentSynced: number;
  itemsSynced: number;
  itemsSkipped: number;
  bytesSynced: number;
  warnings: string[];
  allowedCommands: BatchCommand[];
}

export interface BatchDetail extends BatchSummary {
  settings: {
    excludeFolders: string[];
    since: Epoch;
    maxMessageSize: number;
    autoStart: boolean;
    startAfter: Epoch;
    completeAfter: Epoch;
    notify: string[];
    incrementalIntervalMs: number;
  };
}

export interface BatchUser {
  row: number;
  emailAddress: string;
  userName: string;
  status: UserStatus;
  itemsSynced: number;
  itemsSkipped: number;
  bytesSynced: number;
  lastSyncAt: Epoch;
  nextSyncAt: Epoch;
  syncStartedAt: Epoch;
  running: boolean;
  attempts: number;
  error: ErrorInfo | null;
  /** Messages in the source folders of the sync (STATUS), null until counted. */
  itemsTotal: number | null;
  /** Items Synced per second as the runner measures it while the user syncs, else null. */
  itemsPerSecond: number | null;
  /** What the last sync warned about; empty for none. */
  warnings: string[];
}

export interface SkippedItem {
  folder: string;
  date: number;
  subject: string | null;
  size: number;
  kind: string;
  reason: string;
  remediation: string;
}

export interface CsvProblem extends ErrorInfo { row: number | null }

export interface BatchActionResult { batch: BatchSummary; affected: number | null }

export interface UsersPage { total: number; offset: number; limit: number; users: BatchUser[] }
