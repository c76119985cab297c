/** ConnectionSettings of one batch user, from its endpoints and its CSV row. Decrypts passwords only here. */
import type { ConnectionSettings } from '../domain/mail-types.js';
import type { Endpoint } from '../endpoint/endpoint-model.js';
import { MailshiftError } from '../domain/errors.js';
import type { BatchRow, BatchUserRow } from '../store/batch-repository.js';
import type { BatchContext } from './batch-context.js';
import { SECRET_PURPOSE } from './batch-context.js';

export interface UserConnections {
  source: ConnectionSettings;
  target: ConnectionSettings;
  sourceEndpoint: Endpoint;
  targetEndpoint: Endpoint;
  /** True when the target login goes through the endpoint's admin (impersonation). */
  targetViaAdmin: boolean;
}

export async function endpointsOf(ctx: BatchContext, batch: BatchRow): Promise<{ source: Endpoint; target: Endpoint }> {
  const source = await ctx.endpoints.byId(batch.source_endpoint_id);
  const target = await ctx.endpoints.byId(batch.target_endpoint_id);
  if (!source) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name: `#${batch.source_endpoint_id}` });
  if (!target) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name: `#${batch.target_endpoint_id}` });
  return { source, target };
}

export async function userConnections(ctx: BatchContext, batch: BatchRow, user: BatchUserRow): Promise<UserConnections> {
  const { source: sourceEndpoint, target: targetEndpoint } = await endpointsOf(ctx, batch);
  // Source: the endpoint's admin when it has one, else the CSV's UserName/Password (which may itself
  // be an admin format such as `alice*mailadmin`, passed to the server exactly).
  const source = await ctx.endpoints.resolver.connectionFor(sourceEndpoint, {
    user: user.user_name, password: ctx.secrets.decrypt(user.password_enc, SECRET_PURPOSE.sourcePassword), mailbox: user.user_name,
  });
  if (user.user_root) source.userRoot = user.user_root;
  let target: ConnectionSettings;
  let targetViaAdmin = false;
  if (user.target_user_name && user.target_password_enc) {
    // Per-user target credentials from the CSV win over the endpoint's admin.
    target = await ctx.endpoints.resolver.connectionFor({ ...targetEndpoint, admin: null }, {
      user: user.target_user_name, password: ctx.secrets.decrypt(user.target_password_enc, SECRET_PURPOSE.targetPassword), mailbox: user.email_address,
    });
  } else {
    target = await ctx.endpoints.resolver.connectionFor(targetEndpoint, { user: user.email_address, password: null, mailbox: user.email_address });
    targetViaAdmin = targetEndpoint.admin !== null;
  }
  return { source, target, sourceEndpoint, targetEndpoint, targetViaAdmin };
}
