/** /api/batches/:name/users: one page of a batch's users (filtered, sorted and counted by the database), and one user with its skipped items. */
import type { FastifyInstance } from 'fastify';
import { MailshiftError } from '../domain/errors.js';
import type { ApiContext } from './api-context.js';
import * as S from './schemas.js';
import { findUser, skippedItemsOf, toBatchUser, usersPage } from './views.js';
import type { UsersPageQuery } from './views.js';

export function registerBatchUserRoutes(app: FastifyInstance, api: ApiContext): void {
  const { ctx } = api;
  const tags = ['users'];

  app.get('/api/batches/:name/users', {
    schema: {
      summary: 'One page of the batch\'s users: status, Items Synced/Skipped, bytes, last sync, error with what to do',
      description: 'Filters (status, q, warned) and paging (offset, limit) run in the database; total counts every user that matches the filters.',
      tags, params: S.NameParams, querystring: S.UsersQuery,
      response: {
        200: { type: 'object', properties: { total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' }, users: { type: 'array', items: S.BatchUser } }, required: ['total', 'offset', 'limit', 'users'] },
        ...S.errors(400, 404),
      },
    },
  }, async (req) => {
    const batch = await ctx.repo.getBatch((req.params as { name: string }).name);
    const query = req.query as UsersPageQuery;
    const page = await usersPage(ctx, batch.id, query);
    return { total: page.total, offset: query.offset, limit: query.limit, users: page.users };
  });

  app.get('/api/batches/:name/users/:address', {
    schema: {
      summary: 'One user of a batch, with the messages that were skipped (folder, date, subject, size, why, what to do)',
      tags, params: S.UserParams, response: { 200: S.BatchUserDetail, ...S.errors(404) },
    },
  }, async (req) => {
    const { name, address } = req.params as { name: string; address: string };
    const batch = await ctx.repo.getBatch(name);
    const user = await findUser(ctx, batch.id, address);
    if (!user) throw new MailshiftError('BATCH_USER_NOT_FOUND', { batch: batch.name, address });
    return { ...toBatchUser(user), skippedItems: await skippedItemsOf(ctx, user) };
  });
}
