/** Use case: migrate one mailbox pair with state in the store, a lock against concurrent runs, and a run record. */
import type { Kysely } from 'kysely';
import type { ConnectionSettings } from '../domain/mail-types.js';
import type { Clock, Logger, MailStore } from '../engine/ports.js';
import type { MigrationOptions, OpenOptions } from '../engine/mailbox-migration.js';
import type { ByteBudget } from '../engine/byte-budget.js';
import type { ConnectionBudget } from '../engine/connection-budget.js';
import { asMailshiftError, migrateMailbox } from '../engine/mailbox-migration.js';
import type { MigrationReport } from '../engine/migration-report.js';
import type { MigrationObserver } from '../engine/sync-options.js';
import { dryRunSource, dryRunState, dryRunTarget } from '../engine/dry-run.js';
import { openMailStore } from '../imap/imapflow-mail-store.js';
import { withCrashInjection } from './crash-injection.js';
import type { Database } from '../store/schema.js';
import { acquireMailboxLock, ensureMailbox } from '../store/mailbox-registry.js';
import { MigrationStateRepository } from '../store/migration-state-repository.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise<void>((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  }),
};

export function describeAccount(settings: ConnectionSettings): string {
  const who = settings.authzid ? `${settings.authzid} (via ${settings.user})` : settings.user;
  return `${who} at ${settings.host}:${settings.port}`;
}

/** Identifies the pair in the store; never contains a password. */
export function pairKey(source: ConnectionSettings, target: ConnectionSettings): string {
  const side = (s: ConnectionSettings): string => `${s.authzid ?? ''}|${s.user}@${s.host.toLowerCase()}:${s.port}|${s.userRoot ?? ''}`;
  return `${side(source)} -> ${side(target)}`;
}

export interface RunMigrationInput {
  db: Kysely<Database>;
  statePath: string;
  source: ConnectionSettings;
  target: ConnectionSettings;
  options: MigrationOptions;
  observer?: MigrationObserver;
  logger?: Logger;
  signal?: AbortSignal;
  clock?: Clock;
  /** Shared by all mailboxes the process copies at once (bounded memory); private when absent. */
  byteBudget?: ByteBudget;
  /** Shared by all mailboxes the process copies at once (connections per server); none when absent. */
  connectionBudget?: ConnectionBudget;
  /** For tests and benchmarks: how stores are opened. */
  openStore?: (settings: ConnectionSettings, side: 'source' | 'target', options?: OpenOptions) => Promise<MailStore>;
}

/** A server as the connection budget counts it. */
function serverOf(settings: ConnectionSettings): string {
  return `${settings.host.toLowerCase()}:${settings.port}`;
}

export async function runMigration(input: RunMigrationInput): Promise<MigrationReport> {
  const clock = input.clock ?? systemClock;
  const openRaw = input.openStore ?? ((settings, side, options) => openMailStore(settings, { side }, options?.appendOnControl ? { appendOver: 'control' } : {}, options?.prepare));
  const open = async (settings: ConnectionSettings, side: 'source' | 'target', options?: OpenOptions): Promise<MailStore> => withCrashInjection(await openRaw(settings, side, options));
  const label = `${describeAccount(input.source)} -> ${describeAccount(input.target)}`;
  const mailboxId = await ensureMailbox(input.db, {
    pairKey: pairKey(input.source, input.target), sourceLabel: describeAccount(input.source), targetLabel: describeAccount(input.target),
  }, clock.now());
  const release = input.options.dryRun ? async () => undefined : await acquireMailboxLock(input.db, mailboxId, label, input.statePath, clock.now());
  try {
    const repository = withCrashInjection(new MigrationStateRepository(input.db, mailboxId, clock.now));
    const dry = input.options.dryRun;
    const run = dry ? null : await input.db.insertInto('runs')
      .values({ mailbox_id: mailboxId, started_at: clock.now(), finished_at: null, status: 'running', report: null })
      .returning('id').executeTakeFirstOrThrow();
    let report: MigrationReport;
    try {
      report = await migrateMailbox({
        openSource: async (options) => { const s = await open(input.source, 'source', options); return dry ? dryRunSource(s) : s; },
        openTarget: async (options) => { const t = await open(input.target, 'target', options); return dry ? dryRunTarget(t) : t; },
        state: dry ? dryRunState(repository) : repository,
        clock,
        ...(input.observer ? { observer: input.observer } : {}),
        ...(input.logger ? { logger: input.logger } : {}),
        ...(input.signal ? { signal: input.signal } : {}),
        ...(input.byteBudget ? { byteBudget: input.byteBudget } : {}),
        ...(input.connectionBudget ? { connectionBudget: input.connectionBudget.between(serverOf(input.source), serverOf(input.target)) } : {}),
      }, input.options);
    } catch (err) {
      const e = asMailshiftError(err);
      if (run) await input.db.updateTable('runs').set({ finished_at: clock.now(), status: 'failed', report: JSON.stringify({ error: e.toJSON() }) }).where('id', '=', run.id).execute();
      throw e;
    }
    if (run) {
      await input.db.updateTable('runs').set({ finished_at: clock.now(), status: report.status, report: JSON.stringify(report) })
        .where('id', '=', run.id).execute();
    }
    return report;
  } finally {
    await release();
  }
}
