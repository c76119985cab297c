/**
 * /api/events (Server-Sent Events) and /api/events/ticket. EventSource cannot send an
 * Authorization header, so /api/events also accepts `?ticket=` (from POST /api/events/ticket, valid
 * 5 minutes) or `?token=`.
 */
import type { FastifyInstance } from 'fastify';
import { MailshiftError } from '../domain/errors.js';
import type { ApiContext } from './api-context.js';
import { bearerToken } from './auth-hook.js';
import type { EventHub, EventType } from './event-hub.js';
import * as S from './schemas.js';

export function registerEventRoutes(app: FastifyInstance, api: ApiContext, hub: EventHub): void {
  const tags = ['events'];

  app.post('/api/events/ticket', {
    schema: {
      summary: 'A short-lived ticket for GET /api/events?ticket=… (EventSource cannot send the Authorization header)',
      tags,
      response: { 201: { type: 'object', properties: { ticket: { type: 'string' }, expiresAt: { type: 'integer' } }, required: ['ticket', 'expiresAt'] } },
    },
  }, async (_req, reply) => {
    reply.code(201);
    return api.auth.issueTicket();
  });

  app.get('/api/events', {
    schema: {
      summary: 'Live events (text/event-stream): snapshot, batch, batch-removed, user; a heartbeat comment every 15 s',
      description: 'Authenticate with the Authorization header, ?ticket= (POST /api/events/ticket) or ?token=. ?batch=NAME limits batch and user events to one batch; ?types=snapshot,batch,batch-removed receives only those event types. See docs/api.md for the payloads.',
      tags, querystring: S.EventsQuery, response: S.errors(400, 401),
    },
    config: { auth: 'events', produces: { 200: 'text/event-stream' } },
  }, async (req, reply) => {
    const query = req.query as { ticket?: string; token?: string; batch?: string; types?: string };
    const ok = api.auth.verify(bearerToken(req.headers.authorization)) || api.auth.verifyTicket(query.ticket) || api.auth.verify(query.token);
    if (!ok) {
      throw new MailshiftError('API_UNAUTHORIZED', { detail: query.ticket ? 'the ticket is unknown or expired (get a new one with POST /api/events/ticket)' : 'send the Authorization header, ?ticket= or ?token=' });
    }
    let batch: string | null = null;
    if (query.batch !== undefined) batch = (await api.ctx.repo.getBatch(query.batch)).name.toLowerCase();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    res.write('retry: 3000\n\n');
    await hub.add({ res, batch, types: query.types === undefined ? null : new Set(query.types.split(',') as EventType[]) });
  });
}
