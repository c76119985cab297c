/**
 * The ceilings: how fast the source can be read and the target written with nothing else in the way.
 *  - FETCH: one imapflow connection streaming `UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])`
 *    folder by folder (imapflow's streaming fetch with back-pressure).
 *  - APPEND: mailshift's pipelined AppendWriter on one connection into a fresh user, in
 *    'multiappend' and 'literal-plus' modes, messages held in memory (no source, no ledger).
 */
import { ImapFlow } from 'imapflow';
import type { CorpusMessage } from '../../src/testbed/index.js';
import { AppendWriter, type AppendMode } from '../../src/imap/append-writer.js';
import type { ConnectionSettings } from '../../src/domain/mail-types.js';

export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  caPem: string;
  user: string;
  password: string;
}

export interface RateResult {
  messages: number;
  bytes: number;
  wallMs: number;
  msgsPerSec: number;
  mbPerSec: number;
}

function rate(messages: number, bytes: number, wallMs: number): RateResult {
  const s = wallMs / 1000;
  return { messages, bytes, wallMs, msgsPerSec: messages / s, mbPerSec: bytes / 1e6 / s };
}

function client(e: Endpoint): ImapFlow {
  return new ImapFlow({
    host: e.host, port: e.port, secure: e.tls,
    tls: { ca: e.caPem },
    auth: { user: e.user, pass: e.password },
    logger: false, disableAutoIdle: true, disableBinary: true, disableCompression: true,
  });
}

export async function fetchCeiling(e: Endpoint): Promise<RateResult> {
  const c = client(e);
  c.on('error', () => undefined);
  await c.connect();
  try {
    const started = performance.now();
    let messages = 0;
    let bytes = 0;
    const folders = (await c.list()).filter((f) => !f.flags.has('\\Noselect') && !f.flags.has('\\NonExistent'));
    for (const f of folders) {
      const box = await c.mailboxOpen(f.path, { readOnly: true });
      if (box.exists === 0) continue;
      for await (const m of c.fetch('1:*', { uid: true, flags: true, internalDate: true, source: true }, { uid: true })) {
        messages++;
        bytes += m.source?.length ?? 0;
      }
    }
    return rate(messages, bytes, performance.now() - started);
  } finally {
    await c.logout().catch(() => undefined);
    c.close();
  }
}

export async function appendCeiling(e: Endpoint, corpus: readonly CorpusMessage[], mode: AppendMode): Promise<RateResult> {
  const byFolder = new Map<string, CorpusMessage[]>();
  for (const m of corpus) byFolder.set(m.folder, [...(byFolder.get(m.folder) ?? []), m]);
  // Folders are created first (not timed): the ceiling is about APPEND.
  const c = client(e);
  c.on('error', () => undefined);
  await c.connect();
  try {
    for (const folder of byFolder.keys()) if (folder !== 'INBOX') await c.mailboxCreate(folder).catch(() => undefined);
  } finally {
    await c.logout().catch(() => undefined);
    c.close();
  }
  const settings: ConnectionSettings = {
    host: e.host, port: e.port, security: e.tls ? 'ssl' : 'none', user: e.user, password: e.password, ca: e.caPem,
  };
  const writer = await AppendWriter.open(settings, { side: 'target' }, { mode });
  try {
    const started = performance.now();
    let messages = 0;
    let bytes = 0;
    for (const [folder, items] of byFolder) {
      const results = await writer.append(folder, items.map((m) => ({ raw: m.raw, flags: m.flags, internalDate: m.internalDate })));
      for (const r of results) if (r.status !== 'stored') throw new Error(`append ceiling: ${r.error.message}`);
      messages += items.length;
      for (const m of items) bytes += m.raw.length;
    }
    return rate(messages, bytes, performance.now() - started);
  } finally {
    await writer.close();
  }
}

/** Total messages over all selectable folders (STATUS), for checking a peer's copy. */
export async function countMessages(e: Endpoint): Promise<number> {
  const c = client(e);
  c.on('error', () => undefined);
  await c.connect();
  try {
    let total = 0;
    for (const f of await c.list({ statusQuery: { messages: true } })) {
      if (f.flags.has('\\Noselect') || f.flags.has('\\NonExistent')) continue;
      total += f.status?.messages ?? 0;
    }
    return total;
  } finally {
    await c.logout().catch(() => undefined);
    c.close();
  }
}
