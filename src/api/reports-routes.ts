/** /api/batches/:name/report.csv|.json: the batch report, rendered by the same code as `mailshift batch report` and the notification mail. */
import type { FastifyInstance } from 'fastify';
import { buildBatchReport } from '../app/batch-service.js';
import { renderBatchReportCsv, renderBatchReportJson } from '../report/render-batch-report.js';
import type { ApiContext } from './api-context.js';
import * as S from './schemas.js';

/** A file name for Content-Disposition: batch names are [A-Za-z0-9._-] already; anything else is replaced. */
function fileName(batch: string, ext: string): string {
  return `${batch.replace(/[^A-Za-z0-9._-]/g, '_')}-report.${ext}`;
}

export function registerReportRoutes(app: FastifyInstance, api: ApiContext): void {
  const { ctx } = api;
  const tags = ['reports'];

  app.get('/api/batches/:name/report.csv', {
    schema: {
      summary: 'The CSV error report (per user: status, counts, error and what to do; then every skipped item)',
      tags, params: S.NameParams, response: S.errors(404),
    },
    config: { produces: { 200: 'text/csv' } },
  }, async (req, reply) => {
    const batch = await ctx.repo.getBatch((req.params as { name: string }).name);
    const body = renderBatchReportCsv(await buildBatchReport(ctx, batch));
    return reply.type('text/csv; charset=utf-8').header('Content-Disposition', `attachment; filename="${fileName(batch.name, 'csv')}"`).send(body);
  });

  app.get('/api/batches/:name/report.json', {
    schema: {
      summary: 'The batch report as JSON (the same data as the CSV, plus a summary)',
      tags, params: S.NameParams,
      response: {
        200: { ...S.BatchReport, properties: { ...(S.BatchReport.properties as object), summary: { type: 'object', additionalProperties: true } } },
        ...S.errors(404),
      },
    },
  }, async (req) => {
    const batch = await ctx.repo.getBatch((req.params as { name: string }).name);
    return JSON.parse(renderBatchReportJson(await buildBatchReport(ctx, batch))) as unknown;
  });
}
