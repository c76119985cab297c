/** The admin token check on every /api/* request (except routes marked auth 'none' or 'events', which check themselves). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MailshiftError } from '../domain/errors.js';
import type { AdminAuth } from './admin-token.js';
import type { RouteConfig } from './openapi.js';

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

function isApi(req: FastifyRequest): boolean {
  const path = req.url.split('?')[0]!;
  return path === '/api' || path.startsWith('/api/');
}

export function registerAuthHook(app: FastifyInstance, auth: AdminAuth): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!isApi(req)) return;
    const config = (req.routeOptions.config ?? {}) as RouteConfig;
    if (config.auth === 'none' || config.auth === 'events') return;
    const header = req.headers.authorization;
    if (auth.verify(bearerToken(header))) return;
    reply.header('WWW-Authenticate', 'Bearer realm="mailshift"');
    throw new MailshiftError('API_UNAUTHORIZED', {
      detail: header ? 'the Authorization header does not carry the admin token' : 'the request has no Authorization: Bearer header',
    });
  });
}
