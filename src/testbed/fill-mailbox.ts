/**
 * Seeding and independent read-back of test-bed mailboxes over plain imapflow.
 *
 * Deliberately separate from src/imap: tests use readMailbox to check what mailshift wrote, so it
 * must not share the code under test.
 */
import { ImapFlow } from 'imapflow';
import type { CorpusMessage } from './corpus.js';
import type { DovecotServer } from './dovecot-server.js';

export interface TestbedLogin { user: string; password: string }

export interface FillOptions {
  /** Parallel connections, one folder each at a time; default 8. */
  connections?: number;
}

export interface FillResult {
  messages: number;
  bytes: number;
  elapsedMs: number;
}

export interface MailboxMessage {
  /** Folder path with '/' as separator (corpus form), whatever the server's delimiter. */
  folder: string;
  /** Folder path exactly as the server names it (decoded from modified UTF-7). */
  path: string;
  uid: number;
  raw: Buffer;
  /** Sorted; the session flag \Recent is left out. */
  flags: string[];
  /** Epoch ms. */
  internalDate: number;
}

function connect(server: DovecotServer, login: TestbedLogin): ImapFlow {
  return new ImapFlow({
    host: server.host,
    port: server.imapPort,
    secure: false,
    // Cleartext is faster on loopback; upgrade only when the server refuses LOGIN without TLS.
    doSTARTTLS: server.loginRequiresTls,
    // Seeding and checking are not about certificate trust; TLS tests set their own options.
    tls: { rejectUnauthorized: false },
    auth: { user: login.user, pass: login.password },
    logger: false,
    disableAutoIdle: true,
    // BINARY.PEEK[] may hand back decoded content; these helpers deal in the exact stored bytes.
    disableBinary: true,
    disableCompression: true,
  });
}

function delimiterOf(client: ImapFlow): string {
  return client.namespace?.delimiter || '/';
}

function toServerPath(folder: string, delimiter: string): string {
  if (folder.toUpperCase() === 'INBOX') return 'INBOX';
  return delimiter === '/' ? folder : folder.split('/').join(delimiter);
}

async function closeQuietly(client: ImapFlow): Promise<void> {
  try {
    if (client.usable) await client.logout();
  } catch { /* connection already gone */ }
  client.close();
}

/**
 * Creates the messages' folders and APPENDs each message with its flags and INTERNALDATE, in
 * corpus order within each folder (so UIDs follow that order).
 */
export async function fillMailbox(
  server: DovecotServer,
  user: TestbedLogin,
  messages: readonly CorpusMessage[],
  options: FillOptions = {},
): Promise<FillResult> {
  const started = performance.now();
  const byFolder = new Map<string, CorpusMessage[]>();
  let bytes = 0;
  for (const message of messages) {
    const list = byFolder.get(message.folder) ?? [];
    list.push(message);
    byFolder.set(message.folder, list);
    bytes += message.raw.length;
  }

  const control = connect(server, user);
  let delimiter: string;
  try {
    await control.connect();
    delimiter = delimiterOf(control);
    const existing = new Set((await control.list()).map((entry) => entry.path));
    for (const folder of [...byFolder.keys()].sort()) {
      const path = toServerPath(folder, delimiter);
      if (path !== 'INBOX' && !existing.has(path)) await control.mailboxCreate(path);
    }
  } finally {
    await closeQuietly(control);
  }

  // Biggest folders first, so one large folder does not start last and decide the total time.
  const queue = [...byFolder.entries()].sort((a, b) => b[1].length - a[1].length);
  const workers = Math.max(1, Math.min(options.connections ?? 8, queue.length));
  let failure: unknown = null;
  await Promise.all(Array.from({ length: workers }, async () => {
    if (queue.length === 0) return;
    const client = connect(server, user);
    try {
      await client.connect();
      // Never two connections in one folder: Dovecot serialises them on the folder lock.
      for (let next = queue.shift(); next && !failure; next = queue.shift()) {
        const [folder, items] = next;
        const path = toServerPath(folder, delimiter);
        for (const item of items) {
          if (failure) break;
          try {
            await client.append(path, item.raw, item.flags, new Date(item.internalDate));
          } catch (error) {
            throw Object.assign(new Error(`APPEND to ${path} failed: ${(error as Error).message}`), { cause: error });
          }
        }
      }
    } catch (error) {
      failure ??= error;
    } finally {
      await closeQuietly(client);
    }
  }));
  if (failure) throw failure;
  return { messages: messages.length, bytes, elapsedMs: performance.now() - started };
}

/**
 * Every message of every selectable folder, read with EXAMINE + BODY.PEEK[] (nothing gets \Seen),
 * ordered by folder path then UID.
 */
export async function readMailbox(server: DovecotServer, user: TestbedLogin): Promise<MailboxMessage[]> {
  const client = connect(server, user);
  const out: MailboxMessage[] = [];
  try {
    await client.connect();
    const folders = (await client.list())
      .filter((entry) => !entry.flags.has('\\Noselect') && !entry.flags.has('\\NonExistent'))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const entry of folders) {
      const mailbox = await client.mailboxOpen(entry.path, { readOnly: true });
      if (mailbox.exists === 0) continue;
      const folder = entry.delimiter && entry.delimiter !== '/' ? entry.path.split(entry.delimiter).join('/') : entry.path;
      const batch: MailboxMessage[] = [];
      for await (const message of client.fetch('1:*', { uid: true, flags: true, internalDate: true, source: true })) {
        const date = message.internalDate instanceof Date ? message.internalDate : new Date(message.internalDate ?? NaN);
        batch.push({
          folder,
          path: entry.path,
          uid: message.uid,
          raw: message.source ?? Buffer.alloc(0),
          flags: [...(message.flags ?? [])].filter((flag) => flag !== '\\Recent').sort(),
          internalDate: date.getTime(),
        });
      }
      batch.sort((a, b) => a.uid - b.uid);
      out.push(...batch);
    }
  } finally {
    await closeQuietly(client);
  }
  return out;
}
