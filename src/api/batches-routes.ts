/** /api/batches: list, get, validate a CSV, create, start/stop/complete/retry/sync-now, add users, remove. */
import type { FastifyInstance } from 'fastify';
import {
  DEFAULT_INCREMENTAL_INTERVAL_MS, addUsers, completeBatch, createBatch, removeBatch, retryBatch, startBatch, stopBatch, syncNow,
} from '../app/batch-service.js';
import type { CreateBatchInput } from '../app/batch-service.js';
import { MailshiftError } from '../domain/errors.js';
import { parseUsersCsv } from '../batch/users-csv.js';
import { isDeadOwner } from '../jobs/batch-runner.js';
import type { ApiContext } from './api-context.js';
import * as S from './schemas.js';
import { aggregateUsers, batchSummaries, batchSummary, endpointNamer, toBatchDetail } from './views.js';

/** The seeds' default maximum message size (35 MB). */
export const DEFAULT_MAX_MESSAGE_SIZE = 35 * 1024 * 1024;

interface BatchBody {
  name: string; csv: string; source: string; target: string; excludeFolders?: string[]; since?: string | null; maxMessageSize?: number;
  autoStart?: boolean; startAfter?: string | null; completeAfter?: string | null; notify?: string[]; incrementalIntervalMs?: number;
  probeSource?: boolean;
}

const name = (params: unknown): string => (params as { name: string }).name;

/** Every CSV problem with its row, as the API lists them. */
export function csvProblems(errors: readonly MailshiftError[]): Array<{ code: string; message: string; remediation: string; row: number | null }> {
  return errors.map((e) => ({ code: e.code, message: e.message, remediation: e.remediation, row: typeof e.params.row === 'number' ? e.params.row : null }));
}

/** API_CSV_INVALID carrying the list: thrown, so it leaves through the one error handler. */
export class CsvInvalidError extends MailshiftError {
  constructor(readonly problems: ReturnType<typeof csvProblems>) {
    super('API_CSV_INVALID', { count: problems.length });
  }
}

/** "YYYY-MM-DD" (UTC midnight) or an ISO date-time → epoch ms. */
export function parseInstant(value: string | null | undefined, field: string): number | null {
  if (value === null || value === undefined || value.trim() === '') return null;
  const v = value.trim();
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Date.parse(v);
  if (Number.isNaN(ms)) throw new MailshiftError('API_VALIDATION', { detail: `${field}: "${value}" is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MMZ)` });
  if (/^\d{4}-\d{2}-\d{2}$/.test(v) && new Date(ms).toISOString().slice(0, 10) !== v) {
    throw new MailshiftError('API_VALIDATION', { detail: `${field}: "${value}" is not a valid calendar date` });
  }
  return ms;
}

const ACTION_RESULT = {
  type: 'object',
  properties: { batch: S.BatchSummary, affected: { type: ['integer', 'null'] } },
  required: ['batch', 'affected'],
};

export function registerBatchRoutes(app: FastifyInstance, api: ApiContext): void {
  const { ctx } = api;
  const tags = ['batches'];

  app.get('/api/batches', {
    schema: { summary: 'List the batches with status and user counts', tags, response: { 200: { type: 'object', properties: { batches: { type: 'array', items: S.BatchSummary } }, required: ['batches'] } } },
  }, async () => ({ batches: await batchSummaries(ctx) }));

  app.get('/api/batches/:name', {
    schema: { summary: 'One batch: status, counts, totals, settings, warnings, allowed commands', tags, params: S.NameParams, response: { 200: S.BatchDetail, ...S.errors(404) } },
  }, async (req) => {
    const batch = await ctx.repo.getBatch(name(req.params));
    return toBatchDetail(batch, (await aggregateUsers(ctx, batch.id)).get(batch.id), endpointNamer(ctx));
  });

  app.post('/api/batches/validate', {
    schema: {
      summary: 'Check a users CSV (and, with a target endpoint, that every row can sign in on it); creates nothing',
      tags, body: S.CsvValidateRequest,
      response: { 200: { type: 'object', properties: { valid: { type: 'boolean' }, users: { type: 'integer' }, errors: { type: 'array', items: S.CsvProblem } }, required: ['valid', 'users', 'errors'] }, ...S.errors(400, 404) },
    },
  }, async (req) => {
    const b = req.body as { csv: string; target?: string };
    const parsed = parseUsersCsv(b.csv);
    if (!parsed.ok) return { valid: false, users: 0, errors: csvProblems(parsed.errors) };
    const errors: MailshiftError[] = [];
    if (b.target !== undefined) {
      const target = await ctx.endpoints.byName(b.target);
      for (const u of parsed.users) {
        if (!(u.targetUserName && u.targetPassword) && target.admin === null) {
          errors.push(new MailshiftError('BATCH_NO_TARGET_CREDENTIALS', { row: u.row, address: u.emailAddress, endpoint: target.name }));
        }
      }
    }
    return { valid: errors.length === 0, users: parsed.users.length, errors: csvProblems(errors) };
  });

  app.post('/api/batches', {
    schema: {
      summary: 'Create a batch from a users CSV; nothing is created if the CSV has any problem (all are listed with their rows)',
      tags, body: S.BatchCreate,
      response: {
        201: { type: 'object', properties: { batch: S.BatchDetail, users: { type: 'integer' }, warnings: { type: 'array', items: { type: 'string' } } }, required: ['batch', 'users', 'warnings'] },
        400: { anyOf: [S.CsvErrorBody, S.ErrorBody] }, ...S.errors(404, 409),
      },
    },
  }, async (req, reply) => {
    const b = req.body as BatchBody;
    const startAfter = parseInstant(b.startAfter, 'startAfter');
    const input: CreateBatchInput = {
      name: b.name,
      csv: b.csv,
      source: b.source,
      target: b.target,
      exclude: b.excludeFolders ?? [],
      since: parseInstant(b.since, 'since'),
      maxMessageSize: b.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      autoStart: b.autoStart === true || startAfter !== null,
      startAfter,
      completeAfter: parseInstant(b.completeAfter, 'completeAfter'),
      notify: b.notify ?? [],
      incrementalIntervalMs: b.incrementalIntervalMs ?? DEFAULT_INCREMENTAL_INTERVAL_MS,
      probeSource: b.probeSource !== false,
    };
    const outcome = await createBatch(ctx, input);
    if (!outcome.ok) throw new CsvInvalidError(csvProblems(outcome.errors));
    const { batch, users, warnings } = outcome.value;
    reply.code(201);
    return { batch: await toBatchDetail(batch, (await aggregateUsers(ctx, batch.id)).get(batch.id), endpointNamer(ctx)), users, warnings };
  });

  const action = (path: string, summary: string, run: (batchName: string) => Promise<number | null>): void => {
    app.post(`/api/batches/:name/${path}`, {
      schema: { summary, tags, params: S.NameParams, response: { 200: ACTION_RESULT, ...S.errors(404, 409) } },
    }, async (req) => {
      const affected = await run(name(req.params));
      return { batch: await batchSummary(ctx, await ctx.repo.getBatch(name(req.params))), affected };
    });
  };
  action('start', 'Start (or restart) a batch: the service begins syncing its users', async (n) => { await startBatch(ctx, n); return null; });
  action('stop', 'Stop a batch: running mailboxes are interrupted and resume on start', async (n) => { await stopBatch(ctx, n); return null; });
  action('complete', 'Complete a batch: one final sync of every user, then no more syncing', async (n) => { await completeBatch(ctx, n); return null; });
  action('retry', 'Sync the failed users again (affected: how many)', (n) => retryBatch(ctx, n));
  action('sync-now', 'Incremental sync of every synced user now (affected: how many)', (n) => syncNow(ctx, n));

  app.post('/api/batches/:name/users', {
    schema: {
      summary: 'Add the users of a CSV to a batch (add-users); nothing is added if the CSV has any problem',
      tags, params: S.NameParams, body: S.AddUsersRequest,
      response: {
        201: { type: 'object', properties: { added: { type: 'integer' }, batch: S.BatchSummary }, required: ['added', 'batch'] },
        400: { anyOf: [S.CsvErrorBody, S.ErrorBody] }, ...S.errors(404, 409),
      },
    },
  }, async (req, reply) => {
    const outcome = await addUsers(ctx, name(req.params), (req.body as { csv: string }).csv);
    if (!outcome.ok) throw new CsvInvalidError(csvProblems(outcome.errors));
    reply.code(201);
    return { added: outcome.value.added, batch: await batchSummary(ctx, await ctx.repo.getBatch(name(req.params))) };
  });

  app.delete('/api/batches/:name', {
    schema: {
      summary: 'Remove a batch and its sync state; never touches a mailbox',
      description: '200 when it is gone; 202 while the runner interrupts its running mailboxes (status Removing), then a batch-removed event follows.',
      tags, params: S.NameParams,
      response: {
        200: { type: 'object', properties: { removed: { type: 'boolean' } }, required: ['removed'] },
        202: { type: 'object', properties: { removed: { type: 'boolean' }, running: { type: 'integer' } }, required: ['removed', 'running'] },
        ...S.errors(404),
      },
    },
  }, async (req, reply) => {
    const result = await removeBatch(ctx, name(req.params), isDeadOwner);
    if (result.removed) return { removed: true };
    reply.code(202);
    return { removed: false, running: result.running };
  });
}
