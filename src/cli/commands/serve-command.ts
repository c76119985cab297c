/**
 * `mailshift serve`: the long-running service. Runs every started batch (never more users at once
 * per source endpoint than it allows), incremental syncs every interval, and the commands other
 * processes write to the store. SIGTERM/SIGINT: stop claiming, interrupt running mailboxes (they
 * resume on the next start), release their leases, exit 0.
 */
import { Command } from 'commander';
import { EXIT_CODES } from '../../domain/errors.js';
import { notifierFromEnv, openBatchContext } from '../../app/batch-wiring.js';
import type { BatchContext } from '../../app/batch-context.js';
import { BatchRunner } from '../../jobs/batch-runner.js';
import { defaultStatePath } from '../../store/open-sqlite.js';
import { reportFailure } from '../cli-output.js';
import { parsePositiveInt } from '../parse-values.js';
import { parseDurationOption, runnerOptionsFromEnv } from './batch-command.js';

type Opts = Record<string, unknown>;

export function registerServeCommand(program: Command): void {
  program.addCommand(new Command('serve')
    .description('Run the migration service: syncs started batches, incremental syncs every interval, until SIGTERM/SIGINT')
    .option('--state <path>', 'state database (SQLite); default $MAILSHIFT_STATE or ~/.local/state/mailshift/state.sqlite')
    .option('--poll <duration>', 'how often the store is polled for work and commands', '2s')
    .option('--incremental-interval <duration>', 'override every batch\'s incremental sync interval')
    .option('--lease <duration>', 'how long a claimed mailbox stays reserved without a heartbeat', '60s')
    .option('--max-parallel <n>', 'mailboxes at once in this service, over all endpoints', '100')
    .action(async (opts: Opts) => {
      let ctx: BatchContext | null = null;
      try {
        const statePath = typeof opts.state === 'string' ? opts.state : defaultStatePath();
        const env = runnerOptionsFromEnv();
        const options = {
          ...env,
          pollMs: parseDurationOption(String(opts.poll), '--poll'),
          leaseMs: env.leaseMs ?? parseDurationOption(String(opts.lease), '--lease'),
          maxParallel: parsePositiveInt(String(opts.maxParallel), '--max-parallel', 1000),
          ...(typeof opts.incrementalInterval === 'string' ? { incrementalIntervalMs: parseDurationOption(opts.incrementalInterval, '--incremental-interval') } : {}),
        };
        ctx = await openBatchContext({ statePath, notifier: notifierFromEnv() });
        const log = (line: string): void => { process.stdout.write(`${new Date().toISOString()} ${line}\n`); };
        const runner = new BatchRunner(ctx, { ...options, log });
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          signals++;
          if (signals > 1) process.exit(EXIT_CODES.internal);
          log(`${signal}: stopping (running mailboxes are interrupted and resume on the next start)`);
          void runner.stop();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        log(`mailshift serve: state ${statePath}, pid ${process.pid}, polling every ${String(opts.poll)}`);
        await runner.start();
        log('stopped');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.exitCode = EXIT_CODES.success;
      } catch (err) {
        process.exitCode = reportFailure(err, false);
      } finally {
        await ctx?.close();
      }
    }));
}
