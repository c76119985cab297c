/** /api/endpoints: list, get, create (with the connection test), update, delete, test. */
import type { FastifyInstance } from 'fastify';
import type { EndpointInput, EndpointPatch } from '../app/endpoint-service.js';
import type { ApiContext } from './api-context.js';
import * as S from './schemas.js';
import { batchesByEndpoint, toEndpointJson, toTestResultJson } from './views.js';

interface EndpointBody {
  name?: string; host?: string; port?: number; security?: 'ssl' | 'starttls' | 'none'; allowInsecure?: boolean;
  authentication?: 'login' | 'plain';
  admin?: { user?: string; password?: string; format?: 'authzid' | 'dovecot' | 'exchange' | 'mirapoint' | 'template'; loginTemplate?: string | null } | null;
  maxConcurrentMigrations?: number; maxConcurrentIncrementalSyncs?: number;
  tls?: { minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' | null; ciphers?: string | null; caPem?: string | null; servername?: string | null };
  acceptUntrustedCertificates?: boolean; compress?: boolean; skipVerification?: boolean; testMailbox?: string;
}

const name = (params: unknown): string => (params as { name: string }).name;

/** Copies only the fields that were given (undefined means "not given" to the service). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function registerEndpointRoutes(app: FastifyInstance, api: ApiContext): void {
  const { endpoints, ctx } = api;
  const view = async (endpointName: string) => toEndpointJson(await endpoints.describeEndpoint(endpointName), await batchesByEndpoint(ctx));
  const tags = ['endpoints'];

  app.get('/api/endpoints', {
    schema: { summary: 'List the migration endpoints', tags, response: { 200: { type: 'object', properties: { endpoints: { type: 'array', items: S.EndpointView } }, required: ['endpoints'] } } },
  }, async () => {
    const used = await batchesByEndpoint(ctx);
    return { endpoints: (await endpoints.listEndpoints()).map((v) => toEndpointJson(v, used)) };
  });

  app.get('/api/endpoints/:name', {
    schema: { summary: 'One endpoint: settings, warnings, last test (never a password)', tags, params: S.NameParams, response: { 200: S.EndpointView, ...S.errors(404) } },
  }, async (req) => view(name(req.params)));

  app.post('/api/endpoints', {
    schema: {
      summary: 'Create an endpoint; the connection is tested first unless skipVerification',
      description: 'On a failed test nothing is created and the answer is 422 with the test result.',
      tags, body: S.EndpointCreate,
      response: { 201: { type: 'object', properties: { endpoint: S.EndpointView, test: { anyOf: [S.EndpointTestResult, { type: 'null' }] } }, required: ['endpoint', 'test'] }, ...S.errors(400, 404, 409, 422) },
    },
  }, async (req, reply) => {
    const b = req.body as EndpointBody;
    const input: EndpointInput = {
      ...defined({
        name: b.name!, host: b.host!, port: b.port, security: b.security, allowInsecure: b.allowInsecure, authentication: b.authentication,
        maxConcurrentMigrations: b.maxConcurrentMigrations, maxConcurrentIncrementalSyncs: b.maxConcurrentIncrementalSyncs,
        tls: b.tls, acceptUntrustedCertificates: b.acceptUntrustedCertificates, compress: b.compress,
      }),
      name: b.name!, host: b.host!,
      ...(b.admin ? { admin: { user: b.admin.user!, password: b.admin.password!, format: b.admin.format ?? 'authzid', loginTemplate: b.admin.loginTemplate ?? null } } : {}),
    } as EndpointInput;
    const result = await endpoints.createEndpoint(input, { verify: b.skipVerification !== true, ...(b.testMailbox ? { mailbox: b.testMailbox } : {}) });
    reply.code(201);
    return { endpoint: await view(result.endpoint.name), test: result.test ? toTestResultJson(result.test) : null };
  });

  app.patch('/api/endpoints/:name', {
    schema: {
      summary: 'Change an endpoint (only the given fields); tested again when how the server is reached changes',
      tags, params: S.NameParams, body: S.EndpointPatch,
      response: { 200: { type: 'object', properties: { endpoint: S.EndpointView, test: { anyOf: [S.EndpointTestResult, { type: 'null' }] } }, required: ['endpoint', 'test'] }, ...S.errors(400, 404, 409, 422) },
    },
  }, async (req) => {
    const b = req.body as EndpointBody;
    const patch: EndpointPatch = defined({
      name: b.name, host: b.host, port: b.port, security: b.security, allowInsecure: b.allowInsecure, authentication: b.authentication,
      admin: b.admin === null ? null : b.admin ? defined(b.admin) : undefined,
      maxConcurrentMigrations: b.maxConcurrentMigrations, maxConcurrentIncrementalSyncs: b.maxConcurrentIncrementalSyncs,
      tls: b.tls, acceptUntrustedCertificates: b.acceptUntrustedCertificates, compress: b.compress,
    }) as EndpointPatch;
    const result = await endpoints.updateEndpoint(name(req.params), patch, { verify: b.skipVerification !== true, ...(b.testMailbox ? { mailbox: b.testMailbox } : {}) });
    return { endpoint: await view(result.endpoint.name), test: result.test ? toTestResultJson(result.test) : null };
  });

  app.delete('/api/endpoints/:name', {
    schema: { summary: 'Delete an endpoint (refused while a batch uses it); no mailbox is touched', tags, params: S.NameParams, response: { 200: { type: 'object', properties: { removed: { type: 'string' } }, required: ['removed'] }, ...S.errors(404, 409) } },
  }, async (req) => ({ removed: (await endpoints.removeEndpoint(name(req.params))).name }));

  app.post('/api/endpoints/:name/test', {
    schema: {
      summary: 'Test the connection of a stored endpoint (DNS, TCP, TLS, IMAP, and sign-in when a mailbox or user is given)',
      description: 'Answers 200 whether the test passed or not (see ok and verdict); the outcome is recorded as lastTest.',
      tags, params: S.NameParams, body: S.EndpointTestRequest, response: { 200: S.EndpointTestResult, ...S.errors(400, 404) },
    },
  }, async (req) => {
    const b = (req.body ?? {}) as { mailbox?: string; user?: string; password?: string };
    return toTestResultJson(await endpoints.testEndpoint(name(req.params), defined({ mailbox: b.mailbox, user: b.user, password: b.password })));
  });
}
