/**
 * `mailshift batch create|list|show|users|start|stop|complete|remove|retry|add-users|sync-now|report|run`.
 * Every command but `run` only reads or writes the store, so it works while `mailshift serve` runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { EXIT_CODES, MailshiftError } from '../../domain/errors.js';
import type { BatchContext } from '../../app/batch-context.js';
import { notifierFromEnv, openBatchContext } from '../../app/batch-wiring.js';
import {
  DEFAULT_INCREMENTAL_INTERVAL_MS, addUsers, buildBatchReport, completeBatch, createBatch, removeBatch, retryBatch, startBatch,
  stopBatch, syncNow,
} from '../../app/batch-service.js';
import { formatInterval, parseDuration } from '../../batch/batch-status.js';
import type { BatchStatus } from '../../batch/batch-status.js';
import { BatchRunner, isDeadOwner, isSettled } from '../../jobs/batch-runner.js';
import { renderBatchReportCsv, renderBatchReportJson, renderBatchSummary, renderTable, renderUsersTable, formatUtc } from '../../report/render-batch-report.js';
import type { BatchRow } from '../../store/batch-repository.js';
import { defaultStatePath } from '../../store/open-sqlite.js';
import { reportFailure } from '../cli-output.js';
import { parseDate, parseSize } from '../parse-values.js';
import { addMaxConnectionsOption, maxConnectionsFrom } from '../connection-options.js';
import { ProgressDisplay } from '../progress-display.js';

type Opts = Record<string, unknown>;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const invalid = (detail: string): MailshiftError => new MailshiftError('USAGE_INVALID_OPTION', { detail });

export function parseDurationOption(value: string, option: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw invalid(`${option}: "${value}" is not a duration (examples: 24h, 90m, 30s, 1d).`);
  return ms;
}

/** YYYY-MM-DD (UTC midnight) or an ISO 8601 date-time such as 2026-03-01T22:00Z. */
export function parseInstant(value: string, option: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value.trim())) return parseDate(value, option);
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(ms)) throw invalid(`${option}: "${value}" is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MMZ).`);
  return ms;
}

function readCsv(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new MailshiftError('USAGE_FILE_UNREADABLE', { path, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

function statePathOf(opts: Opts): string {
  return typeof opts.state === 'string' ? opts.state : defaultStatePath();
}

function print(json: boolean, body: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : `${text}\n`);
}

/** Opens the store, runs `work`, reports a failure the one way every command does, closes the store. */
async function withContext(opts: Opts, work: (ctx: BatchContext, json: boolean) => Promise<number | void>, notify = false): Promise<void> {
  const json = opts.json === true;
  let ctx: BatchContext | null = null;
  try {
    ctx = await openBatchContext({ statePath: statePathOf(opts), notifier: notify ? notifierFromEnv() : null });
    const code = await work(ctx, json);
    process.exitCode = code ?? EXIT_CODES.success;
  } catch (err) {
    process.exitCode = reportFailure(err, json);
  } finally {
    await ctx?.close();
  }
}

/** Every CSV problem at once (row numbers as Excel shows them); exit code 2, nothing created. */
function reportCsvErrors(errors: MailshiftError[], json: boolean): number {
  if (json) {
    process.stdout.write(`${JSON.stringify({ status: 'failed', errors: errors.map((e) => e.toJSON()) }, null, 2)}\n`);
  } else {
    process.stderr.write(`mailshift: the CSV file has ${errors.length} problem(s); nothing was created:\n`);
    for (const e of errors) process.stderr.write(`  ${e.message}\n`);
    const remedies = [...new Set(errors.map((e) => e.remediation))];
    for (const r of remedies) process.stderr.write(`  What to do: ${r}\n`);
  }
  return EXIT_CODES.usage;
}

function batchSummaryJson(batch: BatchRow): Record<string, unknown> {
  return {
    name: batch.name, status: batch.status, createdAt: batch.created_at, startedAt: batch.started_at, completedAt: batch.completed_at,
    excludeFolders: JSON.parse(batch.exclude_folders) as string[], since: batch.since, maxMessageSize: batch.max_message_size,
    autoStart: batch.auto_start === 1, startAfter: batch.start_after, completeAfter: batch.complete_after,
    notify: JSON.parse(batch.notify) as string[], incrementalIntervalMs: batch.incremental_interval_ms, warnings: JSON.parse(batch.warnings) as string[],
  };
}

function addState(command: Command, json = true): Command {
  command.option('--state <path>', 'state database (SQLite); default $MAILSHIFT_STATE or ~/.local/state/mailshift/state.sqlite');
  if (json) command.option('--json', 'print the result as JSON');
  return command;
}

type Simple = (ctx: BatchContext, name: string) => Promise<unknown>;

function simpleCommand(name: string, description: string, run: Simple, done: (name: string, result: unknown) => string): Command {
  return addState(new Command(name).description(description).argument('<batch>', 'batch name'))
    .action(async (batchName: string, opts: Opts) => withContext(opts, async (ctx, json) => {
      const result = await run(ctx, batchName);
      const batch = await ctx.repo.findBatch(batchName);
      print(json, { batch: batchName, status: batch?.status ?? 'Removed', result }, done(batchName, result));
    }));
}

export function registerBatchCommand(program: Command): void {
  const batch = new Command('batch').description('Migration batches: a CSV of users moved from a source endpoint to a target endpoint, synced, kept in sync every 24 h, completed, removed.');

  batch.addCommand(addState(new Command('create')
    .description('Create a batch from a users CSV (EmailAddress,UserName,Password[,UserRoot][,TargetUserName,TargetPassword]); nothing is created if the CSV has any problem')
    .argument('<name>', 'batch name: letters, digits, - _ . (no spaces)')
    .requiredOption('--csv <file>', 'the users CSV')
    .requiredOption('--source <endpoint>', 'source endpoint name')
    .requiredOption('--target <endpoint>', 'target endpoint name')
    .option('--exclude <folder>', 'folder not to migrate: exact name, glob (* ?) or #JunkEmail#, #DeletedItems#…; repeatable', collect, [])
    .option('--since <YYYY-MM-DD>', 'only messages received on or after this date')
    .option('--max-message-size <size>', 'larger messages are skipped and reported', '35MB')
    .option('--auto-start', 'start the batch as soon as it is created')
    .option('--start-after <time>', 'start at this date or date-time (implies --auto-start)')
    .option('--complete-after <time>', 'complete automatically at this date or date-time, once synced')
    .option('--notify <email>', 'send the "batch has finished" report to this address; repeatable', collect, [])
    .option('--incremental-interval <duration>', 'incremental sync of synced users every …', '24h')
    .option('--no-probe', 'do not connect to the source to check for Gmail'))
    .action(async (name: string, opts: Opts) => withContext(opts, async (ctx, json) => {
      const input = {
        name,
        csv: readCsv(String(opts.csv)),
        source: String(opts.source),
        target: String(opts.target),
        exclude: opts.exclude as string[],
        since: typeof opts.since === 'string' ? parseDate(opts.since, '--since') : null,
        maxMessageSize: parseSize(String(opts.maxMessageSize), '--max-message-size'),
        autoStart: opts.autoStart === true,
        startAfter: typeof opts.startAfter === 'string' ? parseInstant(opts.startAfter, '--start-after') : null,
        completeAfter: typeof opts.completeAfter === 'string' ? parseInstant(opts.completeAfter, '--complete-after') : null,
        notify: opts.notify as string[],
        incrementalIntervalMs: parseDurationOption(String(opts.incrementalInterval ?? '24h'), '--incremental-interval'),
        probeSource: opts.probe !== false,
      };
      for (const address of input.notify) if (!/^[^\s@]+@[^\s@]+$/.test(address)) throw invalid(`--notify: "${address}" is not an e-mail address.`);
      const outcome = await createBatch(ctx, input);
      if (!outcome.ok) return reportCsvErrors(outcome.errors, json);
      const { batch: created, users, warnings } = outcome.value;
      const lines = [`Created migration batch "${created.name}" with ${users} user(s); status ${created.status}.`];
      if (created.status === 'Created') lines.push(`Start it with: mailshift batch start ${created.name}   (a running \`mailshift serve\` then syncs it)`);
      for (const w of warnings) lines.push(`Warning: ${w}`);
      print(json, { ...batchSummaryJson(created), users }, lines.join('\n'));
    })));

  batch.addCommand(addState(new Command('list').description('List the batches with their status and user counts'))
    .action(async (opts: Opts) => withContext(opts, async (ctx, json) => {
      const batches = await ctx.repo.listBatches();
      const rows = [];
      for (const b of batches) {
        const report = await buildBatchReport(ctx, b, { skippedItems: false });
        rows.push({ name: b.name, status: b.status, users: report.batch.totals.users, synced: report.batch.totals.synced, failed: report.batch.totals.failed, createdAt: b.created_at, source: report.batch.source, target: report.batch.target });
      }
      const text = rows.length === 0 ? 'No migration batches.' : renderTable(
        ['Batch', 'Status', 'Users', 'Synced', 'Failed', 'Created'],
        rows.map((r) => [r.name, r.status, String(r.users), String(r.synced), String(r.failed), `${formatUtc(r.createdAt).slice(0, 16)} UTC`]),
        new Set([2, 3, 4]),
      );
      print(json, { batches: rows }, text);
    })));

  batch.addCommand(addState(new Command('show').description('Status, totals, % synced, users per status, timings').argument('<batch>', 'batch name'))
    .action(async (name: string, opts: Opts) => withContext(opts, async (ctx, json) => {
      const b = await ctx.repo.getBatch(name);
      const report = await buildBatchReport(ctx, b, { skippedItems: false });
      const extra = [`  Incremental     every ${formatInterval(b.incremental_interval_ms)}`];
      if (JSON.parse(b.exclude_folders).length) extra.push(`  Excluded        ${(JSON.parse(b.exclude_folders) as string[]).join(', ')}`);
      print(json, { ...batchSummaryJson(b), report: report.batch, usersByStatus: Object.fromEntries(countBy(report.users.map((u) => u.status))) }, `${renderBatchSummary(report)}\n${extra.join('\n')}`);
    })));

  batch.addCommand(addState(new Command('users').description('Per user: status, Items Synced, Items Skipped, bytes, last sync, error, warnings').argument('<batch>', 'batch name'))
    .action(async (name: string, opts: Opts) => withContext(opts, async (ctx, json) => {
      const report = await buildBatchReport(ctx, await ctx.repo.getBatch(name), { skippedItems: false });
      print(json, { batch: report.batch.name, status: report.batch.status, users: report.users }, renderUsersTable(report));
    })));

  batch.addCommand(addState(new Command('report').description('The batch report: per-user rows, skipped items, each error with what to do').argument('<batch>', 'batch name')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--output <file>', 'write to this file instead of standard output'), false)
    .action(async (name: string, opts: Opts) => withContext(opts, async (ctx) => {
      const format = String(opts.format);
      if (format !== 'csv' && format !== 'json') throw invalid(`--format: "${format}" must be csv or json.`);
      const report = await buildBatchReport(ctx, await ctx.repo.getBatch(name));
      const body = format === 'csv' ? renderBatchReportCsv(report) : renderBatchReportJson(report);
      if (typeof opts.output === 'string') writeFileSync(opts.output, body);
      else process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    })));

  batch.addCommand(simpleCommand('start', 'Start (or restart) a batch: a running service begins syncing its users', async (ctx, n) => (await startBatch(ctx, n)).status,
    (n) => `Batch "${n}" is starting. A running \`mailshift serve\` picks it up; or run it in the foreground with \`mailshift batch run ${n}\`.`));
  batch.addCommand(simpleCommand('stop', 'Stop a batch: running mailboxes are interrupted and resume on start', async (ctx, n) => (await stopBatch(ctx, n)).status,
    (n, status) => status === 'Stopped' ? `Batch "${n}" is stopped.` : `Batch "${n}" is stopping: the service interrupts the running mailboxes (they resume on start).`));
  batch.addCommand(simpleCommand('complete', 'Complete a batch: one final sync of every user, then no more syncing', async (ctx, n) => (await completeBatch(ctx, n)).status,
    (n) => `Batch "${n}" is completing: a final sync of every user runs, then syncing stops.`));
  batch.addCommand(simpleCommand('retry', 'Sync the failed users again', (ctx, n) => retryBatch(ctx, n),
    (n, count) => `${String(count)} failed user(s) of batch "${n}" will be synced again.`));
  batch.addCommand(simpleCommand('sync-now', 'Run an incremental sync of every synced user now (e.g. after the MX switch)', (ctx, n) => syncNow(ctx, n),
    (n, count) => `${String(count)} user(s) of batch "${n}" will be synced now.`));
  batch.addCommand(simpleCommand('remove', 'Remove a batch and its sync state; never touches a mailbox', (ctx, n) => removeBatch(ctx, n, isDeadOwner),
    (n, r) => (r as { removed: boolean }).removed ? `Batch "${n}" was removed. No mailbox was changed.` : `Batch "${n}" is being removed: the service stops its ${(r as { running: number }).running} running mailbox(es) and then deletes it.`));

  batch.addCommand(addState(new Command('add-users').description('Add the users of a CSV to an existing batch').argument('<batch>', 'batch name').requiredOption('--csv <file>', 'the users CSV'))
    .action(async (name: string, opts: Opts) => withContext(opts, async (ctx, json) => {
      const outcome = await addUsers(ctx, name, readCsv(String(opts.csv)));
      if (!outcome.ok) return reportCsvErrors(outcome.errors, json);
      print(json, { batch: name, added: outcome.value.added }, `Added ${outcome.value.added} user(s) to batch "${name}".`);
    })));

  batch.addCommand(addState(addMaxConnectionsOption(new Command('run').description('Run one batch in the foreground until it is synced, with progress (no service needed)').argument('<batch>', 'batch name')
    .option('--poll <duration>', 'how often the store is polled', '1s')))
    .action(async (name: string, opts: Opts) => withContext(opts, async (ctx, json) => {
      // Options first: a bad value must not leave the batch started.
      const pollMs = parseDurationOption(String(opts.poll), '--poll');
      const maxConnections = maxConnectionsFrom(opts);
      let b = await ctx.repo.getBatch(name);
      if (['Created', 'Stopped', 'Failed'].includes(b.status)) b = await startBatch(ctx, name);
      else if (['Synced', 'SyncedWithErrors'].includes(b.status)) await syncNow(ctx, name);
      const display = new ProgressDisplay(process.stderr, !json && process.stderr.isTTY === true, json);
      const runner = new BatchRunner(ctx, {
        ...runnerOptionsFromEnv(),
        pollMs,
        maxConnections,
        onlyBatchId: b.id,
        observerFor: (address) => display.observer(address),
        onUserFinished: (address, status) => display.finish(address, status),
        log: json ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
      const onSignal = (): void => { void runner.stop(); };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const loop = runner.start();
      const watcher = setInterval(() => {
        void (async () => {
          const current = await ctx.repo.batchById(b.id);
          const leased = current ? (await ctx.repo.statusCounts(b.id)).leased : 0;
          if (!current || (isSettled(current.status as BatchStatus) && runner.activeCount === 0 && leased === 0)) await runner.stop();
        })().catch(() => undefined);
      }, 300);
      await loop;
      clearInterval(watcher);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      display.stop();
      const final = await ctx.repo.batchById(b.id);
      if (!final) {
        print(json, { batch: name, status: 'Removed' }, `Batch "${name}" was removed.`);
        return EXIT_CODES.success;
      }
      const report = await buildBatchReport(ctx, final, { skippedItems: false });
      print(json, report, `\n${renderBatchSummary(report)}\n\n${renderUsersTable(report)}`);
      return final.status === 'Synced' || final.status === 'Completed' ? EXIT_CODES.success : EXIT_CODES.partial;
    }, true)));

  program.addCommand(batch);
}

function countBy(values: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/**
 * Test and operator knobs: MAILSHIFT_LEASE (duration), MAILSHIFT_PROGRESS (how often a copying
 * mailbox's counters are refreshed), MAILSHIFT_BATCH_BACKOFF (first backoff),
 * MAILSHIFT_INCREMENTAL_INTERVAL (global override).
 */
export function runnerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): { leaseMs?: number; progressMs?: number; backoffBaseMs?: number; incrementalIntervalMs?: number } {
  const out: { leaseMs?: number; progressMs?: number; backoffBaseMs?: number; incrementalIntervalMs?: number } = {};
  if (env.MAILSHIFT_LEASE) out.leaseMs = parseDurationOption(env.MAILSHIFT_LEASE, 'MAILSHIFT_LEASE');
  if (env.MAILSHIFT_PROGRESS) out.progressMs = parseDurationOption(env.MAILSHIFT_PROGRESS, 'MAILSHIFT_PROGRESS');
  if (env.MAILSHIFT_BATCH_BACKOFF) out.backoffBaseMs = parseDurationOption(env.MAILSHIFT_BATCH_BACKOFF, 'MAILSHIFT_BATCH_BACKOFF');
  if (env.MAILSHIFT_INCREMENTAL_INTERVAL) out.incrementalIntervalMs = parseDurationOption(env.MAILSHIFT_INCREMENTAL_INTERVAL, 'MAILSHIFT_INCREMENTAL_INTERVAL');
  return out;
}

export { DEFAULT_INCREMENTAL_INTERVAL_MS };
