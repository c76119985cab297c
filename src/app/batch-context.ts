/**
 * What the batch use cases and the runner need, as ports: the store, the endpoints (with a resolver
 * that turns an endpoint plus a CSV login into ConnectionSettings), the secret box, a clock, and the
 * notification mail. Wired in one place (`openBatchContext`, src/app/batch-wiring.ts).
 */
import type { Kysely } from 'kysely';
import type { ConnectionSettings } from '../domain/mail-types.js';
import type { Endpoint, EndpointCredentialsResolver } from '../endpoint/endpoint-model.js';
import type { Clock, MailStore } from '../engine/ports.js';
import type { BatchReport } from '../report/batch-report-model.js';
import type { SecretBox } from '../store/secret-box.js';
import type { Database } from '../store/schema.js';
import type { BatchRepository } from '../store/batch-repository.js';

export interface BatchEndpoints {
  /** Throws ENDPOINT_NOT_FOUND. */
  byName(name: string): Promise<Endpoint>;
  byId(id: number): Promise<Endpoint | null>;
  resolver: EndpointCredentialsResolver;
}

export interface BatchNotifier {
  /** Sends "E-mail migration batch NAME has finished" to `to`; null when SMTP is not configured. */
  batchFinished(to: readonly string[], report: BatchReport): Promise<void>;
}

export interface BatchContext {
  db: Kysely<Database>;
  statePath: string;
  repo: BatchRepository;
  endpoints: BatchEndpoints;
  secrets: SecretBox;
  clock: Clock;
  /** Null when no SMTP server is configured (MAILSHIFT_SMTP_URL): nothing is mailed. */
  notifier: BatchNotifier | null;
  /** How mailboxes are opened (tests may wrap it); default: the imapflow MailStore. */
  openStore?: (settings: ConnectionSettings, side: 'source' | 'target') => Promise<MailStore>;
  close(): Promise<void>;
}

/** Secret box purposes: a ciphertext only decrypts in the column it was written for. */
export const SECRET_PURPOSE = {
  sourcePassword: 'batch-user-password',
  targetPassword: 'batch-user-target-password',
} as const;
