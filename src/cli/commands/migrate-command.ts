import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { EXIT_CODES, MailshiftError, exitCodeFor } from '../../domain/errors.js';
import type { ConnectionSettings } from '../../domain/mail-types.js';
import type { MigrationOptions } from '../../engine/mailbox-migration.js';
import type { FolderRules } from '../../engine/folder-mapping.js';
import type { MigrationReport } from '../../engine/migration-report.js';
import { DEFAULT_BYTE_BUDGET, DEFAULT_SYNC_OPTIONS } from '../../engine/sync-options.js';
import { ByteBudget } from '../../engine/byte-budget.js';
import { ConnectionBudget } from '../../engine/connection-budget.js';
import { describeAccount, runMigration } from '../../app/run-migration.js';
import { parseUsersCsv } from '../../batch/users-csv.js';
import { defaultStatePath, openSqliteStore } from '../../store/open-sqlite.js';
import { addConnectionOptions, addMaxConnectionsOption, connectionSettings, maxConnectionsFrom } from '../connection-options.js';
import { reportFailure } from '../cli-output.js';
import { renderSummary } from '../migration-summary.js';
import { parseDate, parseMapping, parsePositiveInt, parseSize } from '../parse-values.js';
import { ProgressDisplay } from '../progress-display.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addFolderRuleOptions(command: Command): Command {
  return command
    .option('--map <old=new>', 'put source folder Old (and its subfolders) into target folder New; repeatable', collect, [])
    .option('--exclude <folder>', 'skip a folder and its subfolders: exact name, glob (* ?), or #JunkEmail#-style token; case-insensitive; repeatable', collect, [])
    .option('--folder <folder>', 'migrate only this folder and its subfolders; repeatable', collect, []);
}

type Opts = Record<string, unknown>;

/** The --map / --exclude / --folder options as the engine's folder rules. */
export function folderRulesFrom(opts: Opts): FolderRules {
  return {
    map: ((opts.map as string[] | undefined) ?? []).map(parseMapping),
    exclude: (opts.exclude as string[] | undefined) ?? [],
    include: (opts.folder as string[] | undefined) ?? [],
  };
}

export function migrationOptionsFrom(opts: Opts, labels: { source: string; target: string }): MigrationOptions {
  return {
    ...DEFAULT_SYNC_OPTIONS,
    since: typeof opts.since === 'string' ? parseDate(opts.since, '--since') : null,
    maxMessageSize: parseSize(String(opts.maxMessageSize ?? '35MB'), '--max-message-size'),
    maxItems: parsePositiveInt(String(opts.maxItems ?? '500000'), '--max-items'),
    rules: folderRulesFrom(opts),
    dryRun: opts.dryRun === true,
    verify: opts.verify !== false,
    maxRetries: parsePositiveInt(String(opts.retries ?? '8'), '--retries', 100),
    folderConcurrency: parsePositiveInt(String(opts.folderConcurrency ?? '3'), '--folder-concurrency', 16),
    sourceLabel: labels.source,
    targetLabel: labels.target,
  };
}

interface Job {
  source: ConnectionSettings;
  target: ConnectionSettings;
  userRoot?: string;
}

async function jobsFrom(opts: Opts): Promise<Job[]> {
  if (typeof opts.users !== 'string') {
    return [{ source: await connectionSettings(opts, 'source'), target: await connectionSettings(opts, 'target') }];
  }
  let input: Buffer;
  try {
    input = readFileSync(opts.users);
  } catch (err) {
    throw new MailshiftError('USAGE_FILE_UNREADABLE', { path: opts.users, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  const parsed = parseUsersCsv(input);
  if (!parsed.ok) {
    // Every problem at once, so the admin fixes the file in one go.
    for (const e of parsed.errors.slice(0, -1)) process.stderr.write(`mailshift: ${e.message}\n`);
    throw parsed.errors[parsed.errors.length - 1]!;
  }
  const targetUserFlag = typeof opts.targetUser === 'string' ? opts.targetUser : undefined;
  const needsSharedTarget = parsed.users.some((u) => !u.targetUserName);
  const sharedTarget = needsSharedTarget
    ? targetUserFlag
      ? await connectionSettings(opts, 'target')
      : null
    : null;
  const jobs: Job[] = [];
  for (const user of parsed.users) {
    const source = await connectionSettings(opts, 'source', { user: user.userName, password: user.password, ...(user.userRoot ? { userRoot: user.userRoot } : {}) });
    let target: ConnectionSettings;
    if (user.targetUserName && user.targetPassword !== undefined) {
      target = await connectionSettings(opts, 'target', { user: user.targetUserName, password: user.targetPassword });
    } else if (sharedTarget) {
      // An admin on the target acts for each EmailAddress (SASL PLAIN authzid).
      target = { ...sharedTarget, authzid: user.emailAddress };
    } else {
      throw new MailshiftError('USAGE_INVALID_OPTION', { detail: `Row ${user.row}: no target credentials. Add TargetUserName,TargetPassword columns, or give --target-user (an admin allowed to act for each EmailAddress).` });
    }
    jobs.push({ source, target, ...(user.userRoot ? { userRoot: user.userRoot } : {}) });
  }
  return jobs;
}

function exitCodeForReports(reports: MigrationReport[], failures: unknown[]): number {
  if (failures.length === reports.length + failures.length && failures.length > 0) {
    const codes = new Set(failures.map(exitCodeFor));
    return codes.size === 1 ? [...codes][0]! : EXIT_CODES.partial;
  }
  if (failures.length > 0) return EXIT_CODES.partial;
  const failed = reports.filter((r) => r.status === 'failed');
  if (failed.length === reports.length && failed.length > 0) {
    const codes = new Set(failed.map((r) => r.errors[r.errors.length - 1]?.code).map((code) => exitCodeFor(code ? new MailshiftError(code) : null)));
    return codes.size === 1 ? [...codes][0]! : EXIT_CODES.partial;
  }
  if (failed.length > 0 || reports.some((r) => r.status === 'completed-with-errors')) return EXIT_CODES.partial;
  return EXIT_CODES.success;
}

export function registerMigrateCommand(program: Command): void {
  const command = new Command('migrate')
    .description('Copy mailboxes from the source server to the target: every folder, message, flag and date, exactly once; resumable; verified.');
  addConnectionOptions(command, 'source', { userRequired: true });
  addConnectionOptions(command, 'target', { userRequired: true });
  addMaxConnectionsOption(addFolderRuleOptions(command)
    .option('--users <file.csv>', 'migrate many mailboxes: EmailAddress,UserName,Password[,UserRoot][,TargetUserName,TargetPassword]')
    .option('--concurrency <n>', 'mailboxes migrated at once with --users', '4'))
    .option('--since <YYYY-MM-DD>', 'only messages received on or after this date (INTERNALDATE)')
    .option('--max-message-size <size>', 'skip (and report) larger messages', '35MB')
    .option('--max-items <n>', 'at most this many messages per mailbox; the oldest beyond it are skipped and reported', '500000')
    .option('--state <path>', 'state database (SQLite); default $MAILSHIFT_STATE or ~/.local/state/mailshift/state.sqlite')
    .option('--retries <n>', 'reconnect attempts after transient failures', '8')
    .option('--folder-concurrency <n>', 'at most this many folders of one mailbox copied at once, each over 4 connections of its own; with message counts (LIST-STATUS), one per 500 new messages', '3')
    .option('--no-verify', 'skip the content verification after copying')
    .option('--dry-run', 'show what would be copied; change nothing')
    .option('--json', 'print the result as one JSON object')
    .action(async (opts: Opts) => {
      const json = opts.json === true;
      const statePath = typeof opts.state === 'string' ? opts.state : defaultStatePath();
      let display: ProgressDisplay | null = null;
      let db: Awaited<ReturnType<typeof openSqliteStore>> | null = null;
      try {
        const jobs = await jobsFrom(opts);
        const concurrency = parsePositiveInt(String(opts.concurrency ?? '4'), '--concurrency', 100);
        const connectionBudget = new ConnectionBudget(maxConnectionsFrom(opts));
        migrationOptionsFrom(opts, { source: '', target: '' });
        db = await openSqliteStore(statePath);
        const live = !json && process.stderr.isTTY === true;
        display = new ProgressDisplay(process.stderr, live, json);
        const controller = new AbortController();
        // Every mailbox in flight (and every one waiting for the byte budget) listens to it: with
        // --concurrency above 10 Node would warn of a leak that is not one.
        setMaxListeners(0, controller.signal);
        const onSignal = (): void => controller.abort(new MailshiftError('INTERNAL', { detail: 'interrupted' }));
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const byteBudget = new ByteBudget(DEFAULT_BYTE_BUDGET);
        const reports: MigrationReport[] = [];
        const failures: Array<{ label: string; error: unknown }> = [];
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < jobs.length) {
            const job = jobs[next++]!;
            const labels = { source: describeAccount(job.source), target: describeAccount(job.target) };
            const label = job.source.authzid ?? job.target.authzid ?? job.source.user;
            const options = migrationOptionsFrom(opts, labels);
            if (job.userRoot) options.rules = { ...options.rules, userRoot: job.userRoot };
            try {
              const report = await runMigration({ db: db!, statePath, source: job.source, target: job.target, options, observer: display!.observer(label), signal: controller.signal, byteBudget, connectionBudget });
              reports.push(report);
              display!.finish(label, report.status);
            } catch (err) {
              failures.push({ label, error: err });
              display!.finish(label, 'failed');
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
        display.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (json) {
          const failed = failures.map((f) => ({ mailbox: f.label, status: 'failed', error: f.error instanceof MailshiftError ? f.error.toJSON() : { code: 'INTERNAL', message: String(f.error) } }));
          const body = jobs.length === 1 && reports.length === 1 ? reports[0] : { mailboxes: [...reports, ...failed] };
          process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
        } else {
          for (const report of reports) process.stdout.write(`\n${renderSummary(report)}\n`);
          for (const f of failures) reportFailure(f.error, false);
          if (jobs.length > 1) {
            const ok = reports.filter((r) => r.status === 'completed').length;
            process.stdout.write(`\n${jobs.length} mailboxes: ${ok} completed, ${reports.length - ok} with errors or failed, ${failures.length} could not start.\n`);
          }
        }
        process.exitCode = exitCodeForReports(reports, failures.map((f) => f.error));
      } catch (err) {
        display?.stop();
        process.exitCode = reportFailure(err, json);
      } finally {
        await db?.destroy();
      }
    });
  program.addCommand(command);
}
