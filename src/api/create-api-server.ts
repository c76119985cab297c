/**
 * The HTTP server of `mailshift serve`: the REST API under /api/ (docs/api.md), its OpenAPI document
 * and docs page, live events, and the dashboard's static files. Built with fastify; every route has
 * JSON Schemas for its input and output; every error leaves as `{code, message, remediation}` with
 * the HTTP status of its catalog code (src/api/api-errors.ts).
 */
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifySchema } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchContext } from '../app/batch-context.js';
import { createEndpointService } from '../app/endpoint-service.js';
import type { EndpointService } from '../app/endpoint-service.js';
import { MailshiftError } from '../domain/errors.js';
import { runDiagnose } from '../diagnose/diagnose-probe.js';
import type { DiagnoseOptions, DiagnoseReport } from '../diagnose/diagnose-types.js';
import type { AdminAuth } from './admin-token.js';
import type { ApiContext } from './api-context.js';
import { errorResponse } from './api-errors.js';
import { registerAuthHook } from './auth-hook.js';
import { CsvInvalidError, registerBatchRoutes } from './batches-routes.js';
import { registerBatchUserRoutes } from './batch-users-routes.js';
import { registerDiagnoseRoutes } from './diagnose-routes.js';
import { registerEndpointRoutes } from './endpoints-routes.js';
import { EventHub } from './event-hub.js';
import { registerEventRoutes } from './events-routes.js';
import { RouteCatalog, buildOpenApi, renderDocsPage } from './openapi.js';
import { registerReportRoutes } from './reports-routes.js';
import { defaultWebRoot, packageRoot, sendStatic } from './static-files.js';

/** A CSV may be 10 MB; JSON-escaped text and the other fields fit in 12. */
export const BODY_LIMIT = 12 * 1024 * 1024;

export interface ApiServerOptions {
  ctx: BatchContext;
  auth: AdminAuth;
  /** Default: an endpoint service over ctx's store and secret box. */
  endpoints?: EndpointService;
  /** Default: the real probe. */
  diagnose?: (options: DiagnoseOptions) => Promise<DiagnoseReport>;
  /** The dashboard's build (web/dist); null: none. Default: MAILSHIFT_WEB_DIST or the package's web/dist. */
  webRoot?: string | null;
  runnerActive?: () => boolean;
  /** Events: store poll interval (default 1 s) and heartbeat interval (default 15 s). */
  eventPollMs?: number;
  heartbeatMs?: number;
  log?: (line: string) => void;
}

export interface ApiServer {
  app: FastifyInstance;
  hub: EventHub;
}

function packageVersion(): string {
  const root = packageRoot();
  if (!root) return '0.0.0';
  try {
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** fastify's own errors (schema validation, bad JSON, body size, media type) in the catalog's terms. */
function fromFastifyError(err: FastifyError): MailshiftError | null {
  if (err.validation) {
    const where = err.validationContext ?? 'request';
    const detail = err.validation.map((v) => {
      const path = `${where}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''}`;
      const extra = (v.params as { additionalProperty?: string; allowedValues?: unknown[] } | undefined);
      if (extra?.additionalProperty) return `${path} has an unknown property "${extra.additionalProperty}"`;
      if (extra?.allowedValues) return `${path} ${v.message} (${extra.allowedValues.join(', ')})`;
      return `${path} ${v.message ?? 'is not valid'}`;
    }).join('; ');
    return new MailshiftError('API_VALIDATION', { detail });
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new MailshiftError('API_PAYLOAD_TOO_LARGE', { limit: '12 MB' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new MailshiftError('API_VALIDATION', { detail: 'the body must be JSON (Content-Type: application/json)' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return new MailshiftError('API_VALIDATION', { detail: 'the body is empty; send a JSON object (at least {})' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return new MailshiftError('API_VALIDATION', { detail: 'the body is not valid JSON' });
    default: break;
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new MailshiftError('API_VALIDATION', { detail: err.message.replace(/[\r\n]+/g, ' ') });
  }
  return null;
}

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { ctx } = options;
  const log = options.log ?? (() => undefined);
  const api: ApiContext = {
    ctx,
    endpoints: options.endpoints ?? createEndpointService({ db: ctx.db, secrets: ctx.secrets }),
    diagnose: options.diagnose ?? ((o) => runDiagnose(o)),
    auth: options.auth,
    runnerActive: options.runnerActive ?? (() => false),
    version: packageVersion(),
    log,
  };
  const webRoot = options.webRoot === undefined ? defaultWebRoot() : options.webRoot;

  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Unknown properties are refused (not silently dropped); query strings are coerced (limit=50).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    return503OnClosing: true,
  });
  const hub = new EventHub(ctx, { pollMs: options.eventPollMs ?? 1000, heartbeatMs: options.heartbeatMs ?? 15_000, log });
  const catalog = new RouteCatalog();
  app.addHook('onRoute', (route) => catalog.add(route));
  // SSE connections never end by themselves: end them before the server waits for its connections.
  app.addHook('preClose', async () => hub.close());
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.url.startsWith('/api/')) {
      reply.header('Cache-Control', 'no-store');
      reply.header('X-Content-Type-Options', 'nosniff');
    }
    return payload;
  });
  registerAuthHook(app, api.auth);
  // A POST without a body (e.g. /test with no options) is validated as an empty object.
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && (req.method === 'POST' || req.method === 'PATCH')) req.body = {};
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const mapped = err instanceof MailshiftError ? err : fromFastifyError(err) ?? err;
    const { status, body } = errorResponse(mapped);
    if (mapped instanceof CsvInvalidError) body.errors = mapped.problems;
    if (status >= 500) log(`api: ${req.method} ${req.url.split('?')[0]}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    if (path === '/api' || path.startsWith('/api/')) {
      const { status, body } = errorResponse(new MailshiftError('API_NOT_FOUND', { method: req.method, path }));
      return reply.code(status).send(body);
    }
    if (req.method === 'GET' || req.method === 'HEAD') return sendStatic(reply, webRoot, path);
    return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
  });

  app.get('/api/info', {
    schema: {
      summary: 'The service: name, version, time, state database, whether the runner is active (also a token check)',
      tags: ['service'],
      response: { 200: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, time: { type: 'integer' }, statePath: { type: 'string' }, runner: { type: 'boolean' } }, required: ['name', 'version', 'time', 'statePath', 'runner'] } },
    },
  }, async () => ({ name: 'mailshift', version: api.version, time: Date.now(), statePath: ctx.statePath, runner: api.runnerActive() }));

  registerEndpointRoutes(app, api);
  registerDiagnoseRoutes(app, api);
  registerBatchRoutes(app, api);
  registerBatchUserRoutes(app, api);
  registerReportRoutes(app, api);
  registerEventRoutes(app, api, hub);

  let openApi: Record<string, unknown> | null = null;
  const document = (): Record<string, unknown> => (openApi ??= buildOpenApi(catalog, { version: api.version }));
  app.get('/api/openapi.json', {
    schema: { summary: 'This OpenAPI 3.1 document', tags: ['service'] } as FastifySchema,
    config: { produces: { 200: 'application/json' } },
  }, async (_req, reply) => reply.type('application/json; charset=utf-8').send(JSON.stringify(document())));
  app.get('/api/docs', {
    schema: { summary: 'The routes of the OpenAPI document as a web page (no token needed: it holds no data)', tags: ['service'] } as FastifySchema,
    config: { auth: 'none', produces: { 200: 'text/html' } },
  }, async (_req, reply) => reply.type('text/html; charset=utf-8')
    .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
    .send(renderDocsPage(document())));

  app.get('/', { config: { hidden: true } }, async (_req, reply) => sendStatic(reply, webRoot, '/'));

  await app.ready();
  return { app, hub };
}
