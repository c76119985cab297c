/**
 * The endpoints table (schema migration #2). Rows ↔ the Endpoint model; the admin password is
 * stored and returned only as secret-box ciphertext — this module never sees a plaintext secret.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import { MailshiftError } from '../domain/errors.js';
import type { SecurityMode } from '../domain/mail-types.js';
import type { AdminLoginFormat, AuthenticationMethod, Endpoint, EndpointTls } from '../endpoint/endpoint-model.js';
import type { Database, EndpointTable } from './schema.js';

type EndpointRow = Selectable<EndpointTable>;

export interface EndpointLastTest {
  at: number;
  ok: boolean;
  /** The verdict code (DIAGNOSE_OK when it passed). */
  code: string;
}

export interface StoredEndpoint {
  endpoint: Endpoint;
  /** Secret-box ciphertext of the admin password; null without admin credentials. */
  adminPasswordCiphertext: string | null;
  lastTest: EndpointLastTest | null;
}

/** Everything of an endpoint except the generated id and times. */
export type EndpointValues = Omit<Endpoint, 'id' | 'createdAt' | 'updatedAt'>;

export const nameKey = (name: string): string => name.trim().toLowerCase();

function toStored(row: EndpointRow): StoredEndpoint {
  const tls: EndpointTls = {
    minVersion: (row.tls_min_version as EndpointTls['minVersion']) ?? null,
    ciphers: row.tls_ciphers,
    caPem: row.tls_ca_pem,
    servername: row.tls_servername,
  };
  const endpoint: Endpoint = {
    id: Number(row.id),
    name: row.name,
    host: row.host,
    port: Number(row.port),
    security: row.security as SecurityMode,
    authentication: row.authentication as AuthenticationMethod,
    admin: row.admin_user !== null
      ? { user: row.admin_user, format: (row.admin_format ?? 'authzid') as AdminLoginFormat, loginTemplate: row.admin_login_template }
      : null,
    maxConcurrentMigrations: Number(row.max_concurrent_migrations),
    maxConcurrentIncrementalSyncs: Number(row.max_concurrent_incremental_syncs),
    tls,
    acceptUntrustedCertificates: Number(row.accept_untrusted_certificates) === 1,
    compress: Number(row.compress) === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  const lastTest = row.last_test_at !== null
    ? { at: Number(row.last_test_at), ok: Number(row.last_test_ok) === 1, code: row.last_test_code ?? '' }
    : null;
  return { endpoint, adminPasswordCiphertext: row.admin_password_enc, lastTest };
}

function toColumns(values: EndpointValues, adminPasswordCiphertext: string | null) {
  return {
    name: values.name,
    name_key: nameKey(values.name),
    host: values.host,
    port: values.port,
    security: values.security,
    authentication: values.authentication,
    admin_user: values.admin?.user ?? null,
    admin_format: values.admin?.format ?? null,
    admin_login_template: values.admin?.loginTemplate ?? null,
    admin_password_enc: values.admin ? adminPasswordCiphertext : null,
    max_concurrent_migrations: values.maxConcurrentMigrations,
    max_concurrent_incremental_syncs: values.maxConcurrentIncrementalSyncs,
    tls_min_version: values.tls.minVersion,
    tls_ciphers: values.tls.ciphers,
    tls_ca_pem: values.tls.caPem,
    tls_servername: values.tls.servername,
    accept_untrusted_certificates: values.acceptUntrustedCertificates ? 1 : 0,
    compress: values.compress ? 1 : 0,
  };
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  // better-sqlite3: SQLITE_CONSTRAINT_UNIQUE; pg: 23505.
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === '23505' || /UNIQUE constraint failed/i.test(e?.message ?? '');
}

export class EndpointRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Inserts one endpoint; ENDPOINT_EXISTS when the name (case-insensitively) is taken. */
  async insert(values: EndpointValues, adminPasswordCiphertext: string | null, now: number): Promise<StoredEndpoint> {
    try {
      const row = await this.db.insertInto('endpoints')
        .values({ ...toColumns(values, adminPasswordCiphertext), created_at: now, updated_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toStored(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new MailshiftError('ENDPOINT_EXISTS', { name: values.name });
      throw err;
    }
  }

  /** Replaces every setting of endpoint `id` in one statement. */
  async update(id: number, values: EndpointValues, adminPasswordCiphertext: string | null, now: number): Promise<StoredEndpoint> {
    try {
      const row = await this.db.updateTable('endpoints')
        .set({ ...toColumns(values, adminPasswordCiphertext), updated_at: now })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new MailshiftError('ENDPOINT_NOT_FOUND', { name: values.name });
      return toStored(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new MailshiftError('ENDPOINT_EXISTS', { name: values.name });
      throw err;
    }
  }

  async findById(id: number): Promise<StoredEndpoint | null> {
    const row = await this.db.selectFrom('endpoints').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toStored(row) : null;
  }

  async findByName(name: string): Promise<StoredEndpoint | null> {
    const row = await this.db.selectFrom('endpoints').selectAll().where('name_key', '=', nameKey(name)).executeTakeFirst();
    return row ? toStored(row) : null;
  }

  async list(): Promise<StoredEndpoint[]> {
    const rows = await this.db.selectFrom('endpoints').selectAll().orderBy('name_key').execute();
    return rows.map(toStored);
  }

  async recordTest(id: number, test: EndpointLastTest): Promise<void> {
    await this.db.updateTable('endpoints')
      .set({ last_test_at: test.at, last_test_ok: test.ok ? 1 : 0, last_test_code: test.code })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Names of the batches that use endpoint `id` as source or target. The batches table belongs to a
   * later schema migration (#3); without it no batch can reference an endpoint.
   */
  async batchesReferencing(id: number): Promise<string[]> {
    const tables = await this.db.introspection.getTables();
    const batches = tables.find((t) => t.name === 'batches');
    if (!batches) return [];
    const columns = new Set(batches.columns.map((c) => c.name));
    if (!columns.has('source_endpoint_id') || !columns.has('target_endpoint_id')) return [];
    const label = columns.has('name') ? sql.ref('name') : sql.ref('id');
    const { rows } = await sql<{ label: string | number }>`select ${label} as label from batches where source_endpoint_id = ${id} or target_endpoint_id = ${id} order by 1`.execute(this.db);
    return rows.map((r) => String(r.label));
  }

  /** Deletes endpoint `id`; false when it did not exist. */
  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('endpoints').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
