/**
 * `mailshift serve`: the long-running service. Runs every started batch (never more users at once
 * per source endpoint than it allows), incremental syncs every interval, and the commands other
 * processes write to the store. It also serves the REST API and the dashboard over HTTP
 * (docs/api.md; 127.0.0.1:8025 by default, `--no-http` to run the runner alone). SIGTERM/SIGINT:
 * stop claiming, interrupt running mailboxes (they resume on the next start), release their
 * leases, close the HTTP server, exit 0.
 */
import { isIP } from 'node:net';
import { Command } from 'commander';
import { EXIT_CODES } from '../../domain/errors.js';
import { notifierFromEnv, openBatchContext } from '../../app/batch-wiring.js';
import type { BatchContext } from '../../app/batch-context.js';
import { BatchRunner } from '../../jobs/batch-runner.js';
import { resolveAdminAuth } from '../../api/admin-token.js';
import { createApiServer } from '../../api/create-api-server.js';
import type { ApiServer } from '../../api/create-api-server.js';
import { defaultStatePath } from '../../store/open-sqlite.js';
import { reportFailure } from '../cli-output.js';
import { parsePort, parsePositiveInt } from '../parse-values.js';
import { parseDurationOption, runnerOptionsFromEnv } from './batch-command.js';
import { addMaxConnectionsOption, maxConnectionsFrom } from '../connection-options.js';

type Opts = Record<string, unknown>;

/** 127.0.0.0/8, ::1 and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function registerServeCommand(program: Command): void {
  program.addCommand(addMaxConnectionsOption(new Command('serve')
    .description('Run the migration service: syncs started batches, incremental syncs every interval, until SIGTERM/SIGINT')
    .option('--state <path>', 'state database (SQLite); default $MAILSHIFT_STATE or ~/.local/state/mailshift/state.sqlite')
    .option('--poll <duration>', 'how often the store is polled for work and commands', '2s')
    .option('--incremental-interval <duration>', 'override every batch\'s incremental sync interval')
    .option('--lease <duration>', 'how long a claimed mailbox stays reserved without a heartbeat', '60s')
    .option('--max-parallel <n>', 'mailboxes at once in this service, over all endpoints', '100'))
    .option('--listen <address>', 'address of the REST API and dashboard (a non-loopback address is reachable from the network)', '127.0.0.1')
    .option('--port <port>', 'port of the REST API and dashboard', '8025')
    .option('--new-token', 'replace the admin token of the API (printed once); ignored with MAILSHIFT_ADMIN_TOKEN')
    .option('--no-http', 'run the batch runner only, without the REST API and dashboard')
    .action(async (opts: Opts) => {
      let ctx: BatchContext | null = null;
      let http: ApiServer | null = null;
      try {
        const statePath = typeof opts.state === 'string' ? opts.state : defaultStatePath();
        const env = runnerOptionsFromEnv();
        const options = {
          ...env,
          pollMs: parseDurationOption(String(opts.poll), '--poll'),
          leaseMs: env.leaseMs ?? parseDurationOption(String(opts.lease), '--lease'),
          maxParallel: parsePositiveInt(String(opts.maxParallel), '--max-parallel', 1000),
          maxConnections: maxConnectionsFrom(opts),
          ...(typeof opts.incrementalInterval === 'string' ? { incrementalIntervalMs: parseDurationOption(opts.incrementalInterval, '--incremental-interval') } : {}),
        };
        const listen = String(opts.listen);
        const port = opts.http === false ? 0 : parsePort(String(opts.port), '--port');
        ctx = await openBatchContext({ statePath, notifier: notifierFromEnv() });
        const log = (line: string): void => { process.stdout.write(`${new Date().toISOString()} ${line}\n`); };
        const runner = new BatchRunner(ctx, { ...options, log });
        let running = false;
        let token: ReturnType<typeof resolveAdminAuth> | null = null;
        let address: string | null = null;
        if (opts.http !== false) {
          token = resolveAdminAuth({ statePath, renew: opts.newToken === true });
          http = await createApiServer({ ctx, auth: token.auth, runnerActive: () => running, log });
          try {
            address = await http.app.listen({ host: listen, port });
          } catch (err) {
            // Another `mailshift serve` on this machine (a second worker on the same store) has the
            // port: this one still runs batches, without the API.
            if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
            process.stderr.write(`mailshift: WARNING: ${urlHost(listen)}:${port} is in use (another mailshift serve?): running batches without the REST API and dashboard. Use --port to choose another port, or --no-http.\n`);
            await http.app.close();
            http = null;
          }
        }
        if (token?.createdToken) {
          // Printed even when the port was taken: only its hash is kept, so this is the one chance.
          process.stdout.write(`\nAdmin token (shown once; only its SHA-256 is kept in ${token.auth.source}):\n\n    ${token.createdToken}\n\nThe dashboard asks for it. Lost it? Run \`mailshift serve --new-token\`.\n\n`);
        }
        if (http && address !== null && token) {
          const { createdToken, auth } = token;
          log(`REST API and dashboard on ${address}/ (docs: ${address}/api/docs)`);
          if (!createdToken) {
            log(`admin token: ${auth.source === 'MAILSHIFT_ADMIN_TOKEN' ? 'MAILSHIFT_ADMIN_TOKEN' : `the one printed at the first start (hash in ${auth.source}; --new-token replaces it)`}`);
          }
          if (!isLoopback(listen)) {
            process.stderr.write(`mailshift: WARNING: the API listens on ${urlHost(listen)}:${port}, reachable from the network, over plain HTTP: the admin token and every password sent to the API cross the network unencrypted. Put a TLS reverse proxy in front, or use --listen 127.0.0.1.\n`);
          }
        }
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
        running = true;
        await runner.start();
        running = false;
        await http?.app.close();
        http = null;
        log('stopped');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.exitCode = EXIT_CODES.success;
      } catch (err) {
        process.exitCode = reportFailure(err, false);
      } finally {
        await http?.app.close().catch(() => undefined);
        await ctx?.close();
      }
    }));
}
