import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { homedir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { migrateSchema } from './schema-migrations.js';
import { rememberRawSqlite } from './raw-sqlite.js';

/** ~/.local/state/mailshift/state.sqlite (XDG), unless MAILSHIFT_STATE or --state say otherwise. */
export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MAILSHIFT_STATE) return env.MAILSHIFT_STATE;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'mailshift', 'state.sqlite');
}

export async function openSqliteStore(path: string): Promise<Kysely<Database>> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const database = new BetterSqlite3(path);
  // WAL survives a killed process with every committed transaction intact; NORMAL sync is enough
  // because a lost last transaction after a power cut is recovered by content-key adoption.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  rememberRawSqlite(db, database);
  await migrateSchema(db);
  return db;
}
