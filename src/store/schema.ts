/**
 * Tables of the state store. Portable across SQLite and PostgreSQL: integers for booleans,
 * epoch-ms integers for times, JSON as text, bigints (uidValidity, modseq) as decimal text.
 */
import type { Generated } from 'kysely';
import type { BatchTable, BatchUserTable } from './batch-schema.js';

export interface MailboxTable {
  id: Generated<number>;
  pair_key: string;
  source_label: string;
  target_label: string;
  created_at: number;
}

export interface MailboxLockTable {
  mailbox_id: number;
  owner: string;
  pid: number;
  host: string;
  acquired_at: number;
}

export interface FolderStateTable {
  mailbox_id: number;
  source_path: string;
  target_path: string;
  source_uid_validity: string;
  target_uid_validity: string | null;
  highest_modseq: string | null;
  last_sync_at: number | null;
  scan_signature: string | null;
}

export interface MessageLedgerTable {
  mailbox_id: number;
  source_path: string;
  source_uid: number;
  target_path: string;
  target_uid: number | null;
  content_key: string;
  size: number;
  internal_date: number;
  flags: string;
  status: string;
  skip_reason: string | null;
  subject: string | null;
  detail: string | null;
  updated_at: number;
}

export interface RunTable {
  id: Generated<number>;
  mailbox_id: number;
  started_at: number;
  finished_at: number | null;
  status: string;
  report: string | null;
}

export interface SchemaVersionTable {
  version: number;
}

/** Migration endpoints (schema migration #2). Admin password: secret-box ciphertext, never plaintext. */
export interface EndpointTable {
  id: Generated<number>;
  name: string;
  /** lower(name): names are unique without regard to case. */
  name_key: string;
  host: string;
  port: number;
  security: string;
  authentication: string;
  admin_user: string | null;
  admin_format: string | null;
  admin_login_template: string | null;
  admin_password_enc: string | null;
  max_concurrent_migrations: number;
  max_concurrent_incremental_syncs: number;
  tls_min_version: string | null;
  tls_ciphers: string | null;
  tls_ca_pem: string | null;
  tls_servername: string | null;
  /** 0/1 */
  accept_untrusted_certificates: number;
  /** 0/1 (schema migration #5) */
  compress: number;
  last_test_at: number | null;
  /** 0/1; null when never tested. */
  last_test_ok: number | null;
  /** The verdict code of the last test (DIAGNOSE_OK when it passed). */
  last_test_code: string | null;
  created_at: number;
  updated_at: number;
}

export interface Database {
  mailboxes: MailboxTable;
  mailbox_locks: MailboxLockTable;
  folder_states: FolderStateTable;
  message_ledger: MessageLedgerTable;
  runs: RunTable;
  schema_version: SchemaVersionTable;
  endpoints: EndpointTable;
  batches: BatchTable;
  batch_users: BatchUserTable;
}
