/** The shape of a diagnose run: what the CLI prints, `--json` emits and `endpoint test` stores. */
import type { SecurityMode } from '../domain/mail-types.ts';
import type { DiagnoseVerdict } from './diagnose-codes.ts';

export type { DiagnoseVerdict } from './diagnose-codes.ts';

export type DiagnoseStepName = 'dns' | 'tcp' | 'tls' | 'imap' | 'login' | 'size';
export const DIAGNOSE_STEPS: readonly DiagnoseStepName[] = ['dns', 'tcp', 'tls', 'imap', 'login', 'size'];

export type DiagnoseStepStatus = 'pass' | 'fail' | 'warn' | 'skipped';

/** Something worth knowing that does not stop a migration (a missing capability, an expiring certificate). */
export interface DiagnoseNote {
  code: string;
  severity: 'info' | 'warn';
  message: string;
  /** Which side of a migration the note matters for. */
  appliesTo: 'source' | 'target' | 'both';
}

export interface DiagnoseStep {
  step: DiagnoseStepName;
  status: DiagnoseStepStatus;
  /** Wall time of the step in milliseconds (0 when skipped). */
  ms: number;
  /** One human line: what was found. */
  summary: string;
  /** Step-specific facts (addresses, negotiated protocol, chain, capabilities, folders…). JSON-safe. */
  details: Record<string, unknown>;
  notes: DiagnoseNote[];
  /** Present on a failing step: the cause and the fix. */
  verdict?: DiagnoseVerdict;
}

/** The probed endpoint, without the password. */
export interface DiagnoseTarget {
  host: string;
  port: number;
  security: SecurityMode;
  user: string | null;
  authzid: string | null;
  /** Name the certificate is checked against (SNI), when it differs from host. */
  servername: string | null;
  timeoutMs: number;
  minTlsVersion: string | null;
  ciphers: string | null;
  customCa: boolean;
}

export interface DiagnoseReport {
  target: DiagnoseTarget;
  ok: boolean;
  /** The step that failed first, or null. */
  failedStep: DiagnoseStepName | null;
  /** The first failing step's verdict, or DIAGNOSE_OK. */
  verdict: DiagnoseVerdict;
  /** Process exit code naming the failing layer: 0 ok, 3 connection, 4 TLS, 5 login. */
  exitCode: number;
  steps: DiagnoseStep[];
  totalMs: number;
}

export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
export const TLS_VERSIONS: readonly TlsVersionName[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

export interface DiagnoseOptions {
  host: string;
  port: number;
  security: SecurityMode;
  user?: string;
  password?: string;
  /** Log in as `user` (an admin) on behalf of this mailbox (SASL PLAIN authorization identity). */
  authzid?: string;
  /** PEM CA bundle trusted in addition to the system store. */
  ca?: string;
  minTlsVersion?: TlsVersionName;
  ciphers?: string;
  servername?: string;
  /** Per network phase (connect, greeting, handshake, each command). Default 15 s, as in the seeds. */
  timeoutMs?: number;
  /** Skip the SIZE step even with a login (it can take a while on large mailboxes). */
  skipSize?: boolean;
}

/** One certificate as the server sent it. */
export interface CertificateDescription {
  subject: string;
  issuer: string;
  subjectAltNames: string[];
  validFrom: string;
  validTo: string;
  serialNumber: string;
  fingerprint256: string;
  selfSigned: boolean;
  isCa: boolean;
}
