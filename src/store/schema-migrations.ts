/** Ordered schema migrations, written with Kysely's schema builder so they run on SQLite and PostgreSQL. */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { createBatchTables } from './batch-schema.js';

type Migration = (db: Kysely<Database>) => Promise<void>;

const MIGRATIONS: Migration[] = [
  async (db) => {
    await db.schema.createTable('mailboxes').ifNotExists()
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('pair_key', 'text', (c) => c.notNull().unique())
      .addColumn('source_label', 'text', (c) => c.notNull())
      .addColumn('target_label', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createTable('mailbox_locks').ifNotExists()
      .addColumn('mailbox_id', 'integer', (c) => c.primaryKey())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('pid', 'integer', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('acquired_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createTable('folder_states').ifNotExists()
      .addColumn('mailbox_id', 'integer', (c) => c.notNull())
      .addColumn('source_path', 'text', (c) => c.notNull())
      .addColumn('target_path', 'text', (c) => c.notNull())
      .addColumn('source_uid_validity', 'text', (c) => c.notNull())
      .addColumn('target_uid_validity', 'text')
      .addColumn('highest_modseq', 'text')
      .addColumn('last_sync_at', 'bigint')
      .addColumn('scan_signature', 'text')
      .addPrimaryKeyConstraint('folder_states_pk', ['mailbox_id', 'source_path'])
      .execute();
    await db.schema.createTable('message_ledger').ifNotExists()
      .addColumn('mailbox_id', 'integer', (c) => c.notNull())
      .addColumn('source_path', 'text', (c) => c.notNull())
      .addColumn('source_uid', 'bigint', (c) => c.notNull())
      .addColumn('target_path', 'text', (c) => c.notNull())
      .addColumn('target_uid', 'bigint')
      .addColumn('content_key', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('internal_date', 'bigint', (c) => c.notNull())
      .addColumn('flags', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('skip_reason', 'text')
      .addColumn('subject', 'text')
      .addColumn('detail', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('message_ledger_pk', ['mailbox_id', 'source_path', 'source_uid'])
      .execute();
    await db.schema.createIndex('message_ledger_target').ifNotExists().on('message_ledger')
      .columns(['mailbox_id', 'target_path', 'target_uid']).execute();
    await db.schema.createTable('runs').ifNotExists()
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('mailbox_id', 'integer', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('report', 'text')
      .execute();
  },
  // #2 (endpoints).
  async (db) => {
    await db.schema.createTable('endpoints').ifNotExists()
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull().unique())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('security', 'text', (c) => c.notNull())
      .addColumn('authentication', 'text', (c) => c.notNull())
      .addColumn('admin_user', 'text')
      .addColumn('admin_format', 'text')
      .addColumn('admin_login_template', 'text')
      .addColumn('admin_password_enc', 'text')
      .addColumn('max_concurrent_migrations', 'integer', (c) => c.notNull())
      .addColumn('max_concurrent_incremental_syncs', 'integer', (c) => c.notNull())
      .addColumn('tls_min_version', 'text')
      .addColumn('tls_ciphers', 'text')
      .addColumn('tls_ca_pem', 'text')
      .addColumn('tls_servername', 'text')
      .addColumn('accept_untrusted_certificates', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_test_at', 'bigint')
      .addColumn('last_test_ok', 'integer')
      .addColumn('last_test_code', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  // #3 (batches): after #2 (endpoints).
  async (db) => createBatchTables(db),
  // #4 (live progress of batch users): the source total the last sync counted (STATUS), and the
  // runner's measured rate while it syncs. Both null until known.
  async (db) => {
    await db.schema.alterTable('batch_users').addColumn('items_total', 'bigint').execute();
    await db.schema.alterTable('batch_users').addColumn('items_per_second', 'real').execute();
  },
  // #5 (COMPRESS=DEFLATE per endpoint, issue 5): off for every existing endpoint.
  async (db) => {
    await db.schema.alterTable('endpoints').addColumn('compress', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },
  // #6 (per-user warnings): what the user's last sync warned about, as a JSON array; null for none.
  async (db) => {
    await db.schema.alterTable('batch_users').addColumn('warnings', 'text').execute();
  },
];

export async function migrateSchema(db: Kysely<Database>): Promise<void> {
  await db.schema.createTable('schema_version').ifNotExists().addColumn('version', 'integer', (c) => c.notNull()).execute();
  const row = await db.selectFrom('schema_version').select('version').executeTakeFirst();
  let version = row?.version ?? 0;
  if (!row) await db.insertInto('schema_version').values({ version: 0 }).execute();
  while (version < MIGRATIONS.length) {
    const migration = MIGRATIONS[version]!;
    await db.transaction().execute(async (trx) => {
      await migration(trx);
      await trx.updateTable('schema_version').set({ version: version + 1 }).execute();
    });
    version++;
  }
  await sql`select 1`.execute(db);
}
