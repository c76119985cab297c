/** Wires the batch context: SQLite store, secret box, endpoint service (as resolver), SMTP notifier. */
import { systemClock } from './run-migration.js';
import { createEndpointService } from './endpoint-service.js';
import type { BatchContext, BatchNotifier } from './batch-context.js';
import { BatchRepository } from '../store/batch-repository.js';
import { openSqliteStore } from '../store/open-sqlite.js';
import { openSecretBox } from '../store/secret-box.js';
import { smtpConfigFromEnv } from '../notify/smtp-config.js';
import { sendBatchFinishedMail } from '../notify/batch-finished-mail.js';

export interface OpenBatchContextOptions {
  statePath: string;
  env?: NodeJS.ProcessEnv;
  /** Null: never mail (e.g. read-only commands). */
  notifier?: BatchNotifier | null;
}

export async function openBatchContext(options: OpenBatchContextOptions): Promise<BatchContext> {
  const env = options.env ?? process.env;
  const db = await openSqliteStore(options.statePath);
  const secrets = openSecretBox({ statePath: options.statePath, env });
  const endpoints = createEndpointService({ db, secrets });
  return {
    db,
    statePath: options.statePath,
    repo: new BatchRepository(db),
    secrets,
    clock: systemClock,
    notifier: options.notifier ?? null,
    endpoints: {
      byName: (name) => endpoints.getEndpointByName(name),
      byId: async (id) => {
        try {
          return await endpoints.getEndpoint(id);
        } catch {
          return null;
        }
      },
      resolver: endpoints,
    },
    close: () => db.destroy(),
  };
}

/** The batch-finished mail through the SMTP server of MAILSHIFT_SMTP_URL; null when none is configured. */
export function notifierFromEnv(env: NodeJS.ProcessEnv = process.env): BatchNotifier | null {
  const config = smtpConfigFromEnv(env);
  if (!config) return null;
  return {
    batchFinished: async (to, report) => {
      await sendBatchFinishedMail(config, [...to], report);
    },
  };
}
