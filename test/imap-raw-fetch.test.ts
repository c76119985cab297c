/**
 * The raw FETCH path (src/imap/fetch-reader.ts, fetch-parser.ts, response-framer.ts):
 *  - unit: framing split at every chunk boundary, the FETCH parser on crafted responses (quoted /
 *    literal / NIL sections, both item orders, `{0}`, unsolicited FLAGS), INTERNALDATE parsing
 *    identical to imapflow's `new Date()`, command planning;
 *  - a scripted fake server for what Dovecot never does (split responses, EXPUNGE mid-fetch,
 *    quoted headers, stalls, a connection cut inside a literal);
 *  - real Dovecot: raw mode vs imapflow mode field by field, and both vs readMailbox (the
 *    independent checker), incl. multi-MB and header-only messages, unicode folders, keywords,
 *    sparse UID sets; \Seen never set; a connection killed mid-fetch is CONN_LOST, not a hang.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ResponseFramer, literalSizeAtEnd, type RawResponse } from '../src/imap/response-framer.js';
import { parseFetchResponse, parseInternalDate, type FetchItems } from '../src/imap/fetch-parser.js';
import { FetchReader, planFetchCommands, type FetchReaderOptions } from '../src/imap/fetch-reader.js';
import { openMailStore } from '../src/imap/imapflow-mail-store.js';
import { MailshiftError } from '../src/domain/errors.js';
import type { ConnectionSettings, FetchedMessage, MessageMeta } from '../src/domain/mail-types.js';
import type { MailStore } from '../src/engine/ports.js';
import { dovecotAvailable, startDovecot, type DovecotServer } from '../src/testbed/dovecot-server.js';
import { fillMailbox, readMailbox, type MailboxMessage } from '../src/testbed/fill-mailbox.js';
import { generateCorpus, type CorpusMessage } from '../src/testbed/corpus.js';
import { encodeModifiedUtf7 } from '../src/imap/modified-utf7.js';
import { compactUidSet } from '../src/imap/imap-syntax.js';
import { collect, rejectsWith, settingsFor } from './imap-support.js';



const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const lit = (data: Buffer | string): Buffer => {
  const bytes = typeof data === 'string' ? b(data) : data;
  return Buffer.concat([b(`{${bytes.length}}\r\n`), bytes]);
};

// ------------------------------------------------------------------ a crafted response stream

const HEADER_A = b('From: a@example.com\r\nSubject: Grüße {3}\r\n\r\n');
const BODY_A = Buffer.concat([HEADER_A, b('Line with {5}\r\n and CRLF\r\n)\r\n* 9 FETCH (fake)\r\n'), Buffer.from([0, 1, 2, 255, 13, 10])]);
const BODY_B = b('Subject: b\r\n\r\nbody b\r\n');

/** Responses a server could send for one UID FETCH, as one byte stream. */
const STREAM = Buffer.concat([
  b('* 1 FETCH (FLAGS (\\Seen))\r\n'), // unsolicited, no UID
  b('* 2 FETCH (UID 10 RFC822.SIZE '), b(String(BODY_A.length)), b(' FLAGS (\\Seen \\Recent $Label1 \\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" BODY[HEADER] '),
  lit(HEADER_A), b(' BODY[] '), lit(BODY_A), b(')\r\n'),
  b('* 7 EXISTS\r\n'),
  // reversed order, quoted header with escapes, empty flag list, lower-case names, {n+}
  b('* 3 FETCH (body[] {'), b(String(BODY_B.length)), b('+}\r\n'), BODY_B, b(' Body[Header] "Subject: \\"q\\" \\\\ back" INTERNALDATE " 7-Feb-2020 23:59:59 +0530" FLAGS () RFC822.SIZE 22 MODSEQ (12345) X-GM-LABELS ("\\\\Inbox" foo) UID 11)\r\n'),
  // NIL header, zero-length body
  b('* 4 FETCH (UID 12 FLAGS (\\Flagged) INTERNALDATE "01-Jan-1970 00:00:00 +0000" RFC822.SIZE 0 BODY[HEADER] NIL BODY[] {0}\r\n)\r\n'),
  b('a1 OK Fetch completed.\r\n'),
]);

const EXPECTED: FetchItems[] = [
  { seq: 1, flags: ['\\Seen'] },
  {
    seq: 2, uid: 10, size: BODY_A.length, flags: ['\\Seen', '\\Recent', '$Label1', '\\Seen'],
    internalDate: '17-Jul-1996 02:44:25 -0700', header: HEADER_A, body: BODY_A,
  },
  {
    seq: 3, uid: 11, size: 22, flags: [], internalDate: ' 7-Feb-2020 23:59:59 +0530',
    header: b('Subject: "q" \\ back'), body: BODY_B, modseq: 12345n,
  },
  { seq: 4, uid: 12, size: 0, flags: ['\\Flagged'], internalDate: '01-Jan-1970 00:00:00 +0000', header: Buffer.alloc(0), body: Buffer.alloc(0) },
];

function frame(chunks: Buffer[]): RawResponse[] {
  const out: RawResponse[] = [];
  const framer = new ResponseFramer((r) => out.push(r));
  for (const c of chunks) framer.push(c);
  assert.equal(framer.holding, false, 'nothing left over');
  return out;
}

function fetchItemsOf(responses: RawResponse[]): FetchItems[] {
  return responses.map((r) => parseFetchResponse(r)).filter((x): x is FetchItems => x !== null);
}

/** Comparable form: Buffers as hex. */
function plain(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') return Buffer.from((v as { data: number[] }).data).toString('hex');
    return v;
  }));
}

describe('response framing and FETCH parsing (unit)', () => {
  test('literalSizeAtEnd', () => {
    assert.equal(literalSizeAtEnd(b('* 1 FETCH (BODY[] {123}')), 123);
    assert.equal(literalSizeAtEnd(b('x {0}')), 0);
    assert.equal(literalSizeAtEnd(b('x {45+}')), 45);
    assert.equal(literalSizeAtEnd(b('x ~{7}')), 7);
    assert.equal(literalSizeAtEnd(b('x {}')), null);
    assert.equal(literalSizeAtEnd(b('x {a}')), null);
    assert.equal(literalSizeAtEnd(b('x 12}')), null);
    assert.equal(literalSizeAtEnd(b('}')), null);
  });

  test('the whole stream parses to the expected items', () => {
    const responses = frame([STREAM]);
    assert.equal(responses.length, 6);
    assert.deepEqual(plain(fetchItemsOf(responses)), plain(EXPECTED));
    // Non-FETCH responses are not FETCH responses.
    assert.equal(parseFetchResponse(responses[2]!), null);
    assert.equal(parseFetchResponse(responses[5]!), null);
  });

  test('split at every possible chunk boundary (literal, {n}, CRLF split) gives the same responses', () => {
    const whole = plain(frame([STREAM]));
    for (let i = 1; i < STREAM.length; i++) {
      const got = frame([STREAM.subarray(0, i), STREAM.subarray(i)]);
      assert.deepEqual(plain(got), whole, `split at ${i}`);
    }
    // Byte by byte: every boundary at once.
    const bytes = Array.from({ length: STREAM.length }, (_, i) => STREAM.subarray(i, i + 1));
    assert.deepEqual(plain(frame(bytes)), whole);
    // Three-way splits around the first literal marker and its CRLF.
    const marker = STREAM.indexOf('{' + String(HEADER_A.length) + '}');
    for (let i = marker - 2; i < marker + 12; i++) {
      for (let j = i + 1; j < marker + 14; j++) {
        assert.deepEqual(plain(frame([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)])), whole, `split at ${i}/${j}`);
      }
    }
  });

  test('read into one reused buffer (as ImapWire reads the socket): the same responses at every piece size', () => {
    const whole = plain(frame([STREAM]));
    for (const size of [1, 2, 3, 7, 16, 61, 200, STREAM.length]) {
      const shared = Buffer.alloc(size);
      const out: RawResponse[] = [];
      const framer = new ResponseFramer((r) => out.push(r));
      for (let at = 0; at < STREAM.length; at += size) {
        const n = STREAM.copy(shared, 0, at, at + size);
        framer.push(shared.subarray(0, n));
        shared.fill(0x58);
      }
      assert.equal(framer.holding, false);
      assert.deepEqual(plain(out), whole, `pieces of ${size}`);
    }
  });

  test('literals are exact-size copies, not views of the socket chunks', () => {
    const chunk = Buffer.from(STREAM);
    const responses = frame([chunk]);
    const body = fetchItemsOf(responses)[1]!.body!;
    assert.equal(body.length, BODY_A.length);
    chunk.fill(0);
    assert.ok(body.equals(BODY_A));
  });

  test('a literal of several MB (its own mapping) arrives whole and exact from 16 KB chunks', () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 12)) & 0xff;
    const stream = Buffer.concat([Buffer.from(`* 1 FETCH (UID 9 BODY[] {${body.length}}\r\n`), body, Buffer.from(')\r\n')]);
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 16 * 1024) chunks.push(Buffer.from(stream.subarray(at, at + 16 * 1024)));
    const responses = frame(chunks);
    assert.equal(responses.length, 1);
    const literal = responses[0]!.literals[0]!;
    assert.equal(literal.length, body.length);
    for (const c of chunks) c.fill(0);
    assert.ok(literal.equals(body));
  });

  test('an absurd literal size is a protocol error, not an allocation', () => {
    const framer = new ResponseFramer(() => undefined, 1000);
    assert.throws(() => framer.push(b('* 1 FETCH (BODY[] {1001}\r\n')), /literal of 1001 bytes/);
  });

  test('malformed FETCH responses throw', () => {
    for (const bad of ['* 1 FETCH (UID x)', '* 1 FETCH (UID 1', '* 1 FETCH (FLAGS "x")', '* 1 FETCH (BODY[] "abc)', '* 1 FETCH (UID 1) junk']) {
      assert.throws(() => parseFetchResponse({ text: [b(bad)], literals: [] }), /Malformed FETCH/, bad);
    }
  });

  test('INTERNALDATE → epoch ms exactly as new Date() (imapflow) parses it', () => {
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const p2 = (n: number): string => String(n).padStart(2, '0');
    for (let i = 0; i < 5000; i++) {
      const t = Date.UTC(1901, 0, 1) + rnd(2 ** 31 - 1) * 2000 + rnd(1000) * 1000;
      const d = new Date(t);
      const offset = (rnd(105) - 48) * 15; // -12:00 .. +14:00
      const sign = offset < 0 ? '-' : '+';
      const abs = Math.abs(offset);
      const day = rnd(2) === 0 ? p2(d.getUTCDate()) : String(d.getUTCDate()).padStart(2, ' ');
      const s = `${day}-${months[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
      assert.equal(parseInternalDate(s), new Date(s).getTime(), s);
    }
    assert.equal(parseInternalDate('17-Jul-1996 02:44:25 -0700'), Date.UTC(1996, 6, 17, 9, 44, 25));
    assert.equal(parseInternalDate(' 7-jul-1996 02:44:25 +0000'), Date.UTC(1996, 6, 7, 2, 44, 25));
    assert.equal(parseInternalDate('7-Jul-1996 02:44:25 +0000'), Date.UTC(1996, 6, 7, 2, 44, 25));
    assert.equal(parseInternalDate('29-Feb-2024 12:00:00 +1400'), Date.UTC(2024, 1, 28, 22));
    assert.equal(parseInternalDate('29-Feb-2000 00:00:00 -0000'), Date.UTC(2000, 1, 29));
    // Out of range: never rolled over into the next day or month, left to Date parsing.
    for (const s of ['29-Feb-2023 12:00:00 +0000', '29-Feb-1900 12:00:00 +0000', '31-Apr-2023 12:00:00 +0000', '00-Jan-2023 12:00:00 +0000',
      '01-Jan-2023 24:00:00 +0000', '01-Jan-2023 23:60:00 +0000', '01-Jan-2023 23:59:60 +0000', '01-Foo-2023 12:00:00 +0000', '01-Jan-2023 12:00:00 *0000']) {
      assert.equal(parseInternalDate(s), new Date(s).getTime(), s);
    }
    assert.ok(Number.isNaN(parseInternalDate('garbage')));
  });

  test('command planning: count, estimated bytes (a large message alone), set length', () => {
    const uids = Array.from({ length: 120 }, (_, i) => i + 1);
    const sizes = new Map([[5, 3_000_000], [6, 3_000_000], [50, 10_000_000]]);
    const plan = planFetchCommands(uids, (u) => sizes.get(u), { messagesPerCommand: 50, bytesPerCommand: 4 * 1024 * 1024 });
    assert.deepEqual(plan.flat(), uids);
    assert.ok(plan.every((c) => c.length <= 50));
    assert.ok(plan.some((c) => c.length === 1 && c[0] === 50), 'the 10 MB message goes alone');
    assert.ok(!plan.some((c) => c.includes(5) && c.includes(6)), 'two 3 MB messages are not in one 4 MiB command');
    const sparse = Array.from({ length: 3000 }, (_, i) => 1_000_000 + i * 7);
    const planned = planFetchCommands(sparse, () => 10, { messagesPerCommand: 5000, bytesPerCommand: 1e12 });
    assert.deepEqual(planned.flat(), sparse);
    assert.ok(planned.length > 1 && planned.every((c) => compactUidSet(c).length <= 7000));
  });
});

// ------------------------------------------------------------------ a scripted fake server

interface FakeServer {
  port: number;
  commands: string[];
  sockets: net.Socket[];
  close(): Promise<void>;
}

type FetchScript = (tag: string, set: string, socket: net.Socket) => void;

const queues = new WeakMap<net.Socket, Promise<void>>();

/**
 * Writes `data` in small random pieces, each in its own write (and often its own segment). Calls
 * on one socket are queued: a server answers pipelined commands one after the other.
 */
function dribble(socket: net.Socket, data: Buffer, then?: () => void): void {
  const previous = queues.get(socket) ?? Promise.resolve();
  queues.set(socket, previous.then(() => new Promise<void>((resolve) => {
    let pos = 0;
    let seed = data.length;
    const step = (): void => {
      if (socket.destroyed) return resolve();
      if (pos >= data.length) {
        then?.();
        resolve();
        return;
      }
      seed = (seed * 48271) % 2147483647;
      const n = 1 + (seed % 97);
      socket.write(data.subarray(pos, pos + n));
      pos += n;
      setImmediate(step);
    };
    step();
  })));
}

async function fakeServer(script: FetchScript, uidValidity = 42): Promise<FakeServer> {
  const commands: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+] fake ready\r\n');
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let eol = buffer.indexOf('\r\n'); eol >= 0; eol = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const [tag = '', verb = '', ...rest] = line.split(' ');
        commands.push(verb === 'AUTHENTICATE' ? `${verb}` : `${verb} ${rest.join(' ')}`.trim());
        const upper = verb.toUpperCase();
        if (upper === 'AUTHENTICATE') socket.write(`${tag} OK [CAPABILITY IMAP4rev1 LITERAL+] logged in\r\n`);
        else if (upper === 'EXAMINE') socket.write(`* 5 EXISTS\r\n* OK [UIDVALIDITY ${uidValidity}] UIDs valid\r\n${tag} OK [READ-ONLY] Examine completed\r\n`);
        else if (upper === 'UID' && rest[0]?.toUpperCase() === 'FETCH') script(tag, rest[1] ?? '', socket);
        else if (upper === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK Logout completed\r\n`);
        else socket.write(`${tag} BAD unexpected\r\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, commands, sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function fakeSettings(port: number): ConnectionSettings {
  return { host: '127.0.0.1', port, security: 'none', user: 'u', password: 'p', connectTimeoutMs: 5000 };
}

/**
 * A reader on a scripted server, both closed afterwards: LOGOUT when the reader is still usable,
 * destroy() when the test has killed its connection (`end: 'destroy'`).
 */
async function withFakeReader(
  script: FetchScript,
  body: (reader: FetchReader, server: FakeServer) => Promise<void>,
  options: { reader?: FetchReaderOptions; uidValidity?: number; end?: 'close' | 'destroy' } = {},
): Promise<void> {
  const server = await fakeServer(script, options.uidValidity);
  const reader = await FetchReader.open(fakeSettings(server.port), { side: 'source' }, options.reader ?? {});
  try {
    await body(reader, server);
  } finally {
    if (options.end === 'destroy') reader.destroy(); else await reader.close();
    await server.close();
  }
}

const MSG = (uid: number): Buffer => b(`Subject: message ${uid}\r\n\r\n${'x'.repeat(uid * 37)}\r\n`);
const HDR = (uid: number): Buffer => b(`Subject: message ${uid}\r\n\r\n`);

/** A well-formed answer for every UID in `set` (sequence number = uid - 100). */
function plainAnswer(tag: string, set: string): Buffer {
  const parts: Buffer[] = [];
  for (const range of set.split(',')) {
    const [a, z] = range.split(':').map(Number) as [number, number | undefined];
    for (let uid = a; uid <= (z ?? a); uid++) {
      parts.push(b(`* ${uid - 100} FETCH (UID ${uid} FLAGS (\\Seen) INTERNALDATE "01-Jun-2019 10:00:00 +0200" RFC822.SIZE ${MSG(uid).length} BODY[HEADER] `), lit(HDR(uid)), b(' BODY[] '), lit(MSG(uid)), b(')\r\n'));
    }
  }
  parts.push(b(`${tag} OK Fetch completed\r\n`));
  return Buffer.concat(parts);
}

describe('FetchReader against a scripted server', () => {
  test('split responses, EXPUNGE mid-fetch, unsolicited updates, quoted/NIL/{0} sections, both orders', async () => {
    const h13 = HDR(13);
    const script: FetchScript = (tag, _set, socket) => {
      dribble(socket, Buffer.concat([
        b('* 1 FETCH (FLAGS (\\Seen))\r\n'),
        b('* 2 FETCH (UID 10 RFC822.SIZE 7 FLAGS (\\Seen \\Recent $Label1) INTERNALDATE "17-Jul-1996 02:44:25 -0700" BODY[HEADER] '), lit('H10\r\n\r\n'), b(' BODY[] '), lit('H10\r\n\r\nB'), b(')\r\n'),
        b('* 3 FETCH (BODY[] '), lit(MSG(11)), b(' BODY[HEADER] "Subject: \\"quoted\\"" INTERNALDATE " 7-Feb-2020 23:59:59 +0530" FLAGS () RFC822.SIZE 99 UID 11)\r\n'),
        b('* 4 FETCH (UID 12 FLAGS (\\Flagged) INTERNALDATE "01-Jan-2001 00:00:00 +0000" RFC822.SIZE 0 BODY[HEADER] NIL BODY[] {0}\r\n)\r\n'),
        // uid 13 in two responses, the second without UID
        b('* 5 FETCH (UID 13 FLAGS (\\Draft) BODY[HEADER] '), lit(h13), b(')\r\n'),
        b('* 6 FETCH (UID 14 BODY[] '), lit(MSG(14)), b(')\r\n'),
        b('* 5 FETCH (INTERNALDATE "02-Jan-2001 00:00:00 +0000" RFC822.SIZE 5 BODY[] '), lit(MSG(13)), b(')\r\n'),
        // seq 1 expunged: uid 14 is now seq 5
        b('* 1 EXPUNGE\r\n'),
        b('* 5 FETCH (FLAGS (Work) INTERNALDATE "03-Jan-2001 00:00:00 +0000" RFC822.SIZE 14 BODY[HEADER] '), lit(HDR(14)), b(')\r\n'),
        // an update for a message already delivered, and one for a UID not asked for
        b('* 1 FETCH (UID 10 FLAGS (\\Deleted))\r\n'),
        b('* 9 FETCH (UID 99 FLAGS (\\Seen) BODY[] {3}\r\nabc)\r\n'),
        b(`${tag} OK Fetch completed\r\n`),
      ]));
    };
    await withFakeReader(script, async (reader, server) => {
      const got = await collect(reader.fetch('Ünï 📧', [10, 11, 12, 13, 14], { expectedUidValidity: 42n }));
      const byUid = new Map(got.map((m) => [m.uid, m]));
      assert.deepEqual([...byUid.keys()].sort((x, y) => x - y), [10, 11, 12, 13, 14]);
      const m10 = byUid.get(10)!;
      assert.deepEqual(m10.flags, ['\\Seen', '$Label1']);
      assert.equal(m10.internalDate, Date.UTC(1996, 6, 17, 9, 44, 25));
      assert.equal(m10.size, 7);
      assert.ok(m10.header.equals(b('H10\r\n\r\n')) && m10.raw.equals(b('H10\r\n\r\nB')));
      const m11 = byUid.get(11)!;
      assert.ok(m11.header.equals(b('Subject: "quoted"')));
      assert.ok(m11.raw.equals(MSG(11)));
      assert.deepEqual(m11.flags, []);
      assert.equal(m11.internalDate, new Date(' 7-Feb-2020 23:59:59 +0530').getTime());
      const m12 = byUid.get(12)!;
      assert.equal(m12.raw.length, 0);
      assert.equal(m12.header.length, 0);
      assert.deepEqual(m12.flags, ['\\Flagged']);
      const m13 = byUid.get(13)!;
      assert.deepEqual(m13.flags, ['\\Draft']);
      assert.ok(m13.raw.equals(MSG(13)) && m13.header.equals(h13));
      assert.equal(m13.internalDate, Date.UTC(2001, 0, 2));
      const m14 = byUid.get(14)!;
      assert.deepEqual(m14.flags, ['Work']);
      assert.ok(m14.raw.equals(MSG(14)) && m14.header.equals(HDR(14)));
      assert.equal(m14.internalDate, Date.UTC(2001, 0, 3));
      assert.equal(server.commands.filter((c) => c.startsWith('EXAMINE')).length, 1);
      assert.equal(server.commands.find((c) => c.startsWith('EXAMINE')), `EXAMINE "${encodeModifiedUtf7('Ünï 📧')}"`);
      assert.match(server.commands.find((c) => c.startsWith('UID'))!, /^UID FETCH 10:14 \(UID FLAGS INTERNALDATE RFC822\.SIZE BODY\.PEEK\[HEADER\] BODY\.PEEK\[\]\)$/);
    });
  });

  test('metadata: split rows merged, rows without UID by sequence number, other UIDs ignored, missing UIDs skipped', async () => {
    const script: FetchScript = (tag, _set, socket) => {
      dribble(socket, Buffer.concat([
        b('* 1 FETCH (UID 101 FLAGS (\\Seen \\Recent))\r\n'),
        b('* 9 FETCH (UID 200 FLAGS (\\Flagged))\r\n'),
        b('* 2 FETCH (UID 102 FLAGS () INTERNALDATE "01-Jun-2019 10:00:00 +0200" RFC822.SIZE 20)\r\n'),
        b('* 1 FETCH (INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 10)\r\n'),
        b(`${tag} OK Fetch completed\r\n`),
      ]));
    };
    await withFakeReader(script, async (reader, server) => {
      const got = await collect(reader.fetchMeta('INBOX', [103, 101, 102], { expectedUidValidity: 42n }));
      assert.deepEqual(got, [
        { uid: 101, flags: ['\\Seen'], internalDate: Date.UTC(1996, 6, 17, 9, 44, 25), size: 10, modseq: null },
        { uid: 102, flags: [], internalDate: Date.UTC(2019, 5, 1, 8), size: 20, modseq: null },
      ]);
      // No CONDSTORE on this server: no MODSEQ item and no CHANGEDSINCE modifier, even when asked.
      const all = await collect(reader.fetchMeta('INBOX', 'all', { changedSince: 5n }));
      assert.deepEqual(all.map((m) => m.uid), [101, 102, 200]);
      assert.equal(all[2]!.size, 0);
      assert.ok(Number.isNaN(all[2]!.internalDate));
      assert.deepEqual(server.commands.filter((c) => c.startsWith('UID')), [
        'UID FETCH 101:103 (UID FLAGS INTERNALDATE RFC822.SIZE)',
        'UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)',
      ]);
      // A fresh EXAMINE each time, although the folder is already open: the view must be current.
      assert.equal(server.commands.filter((c) => c.startsWith('EXAMINE')).length, 2);
      assert.deepEqual(await collect(reader.fetchMeta('INBOX', [])), []);
    });
  });

  test('pipelines chunked commands; stopping early drains them and the next fetch is clean', async () => {
    const sent: string[] = [];
    await withFakeReader((tag, set, socket) => {
      sent.push(set);
      dribble(socket, plainAnswer(tag, set));
    }, async (reader, server) => {
      const uids = [101, 102, 103, 104, 105, 106, 107, 109, 111, 200];
      const all = await collect(reader.fetch('INBOX', uids));
      assert.deepEqual(all.map((m) => m.uid), uids);
      for (const m of all) {
        assert.ok(m.raw.equals(MSG(m.uid)) && m.header.equals(HDR(m.uid)));
        assert.equal(m.size, MSG(m.uid).length);
        assert.equal(m.internalDate, Date.UTC(2019, 5, 1, 8));
      }
      assert.deepEqual(sent, ['101:103', '104:106', '107,109,111', '200']);
      // Abandon after the first message, twice, then a full fetch must see only its own data.
      for (let k = 0; k < 2; k++) {
        for await (const m of reader.fetch('INBOX', uids)) {
          assert.equal(m.uid, 101);
          break;
        }
      }
      const again = await collect(reader.fetch('INBOX', [150, 151]));
      assert.deepEqual(again.map((m) => m.uid), [150, 151]);
      assert.ok(again.every((m) => m.raw.equals(MSG(m.uid))));
      assert.equal(server.commands.filter((c) => c.startsWith('EXAMINE')).length, 1, 'the folder stays examined');
      await collect(reader.fetch('Other', [101]));
      assert.equal(server.commands.filter((c) => c.startsWith('EXAMINE')).length, 2);
    }, { reader: { messagesPerCommand: 3 } });
  });

  test('a connection cut inside a literal is CONN_LOST', async () => {
    await withFakeReader((_tag, _set, socket) => {
      const data = Buffer.concat([b('* 1 FETCH (UID 101 FLAGS () BODY[] {100000}\r\n'), Buffer.alloc(5000, 0x61)]);
      dribble(socket, data, () => socket.destroy());
    }, async (reader) => {
      await rejectsWith(collect(reader.fetch('INBOX', [101, 102])), 'CONN_LOST');
      assert.equal(reader.alive, false);
      await rejectsWith(collect(reader.fetch('INBOX', [101])), 'CONN_LOST');
    }, { end: 'destroy' });
  });

  test('a server that stops sending mid-response times out (CONN_TIMEOUT), it does not hang', async () => {
    await withFakeReader((_tag, _set, socket) => {
      socket.write('* 1 FETCH (UID 101 FLAGS () BODY[] {100000}\r\nabc');
    }, async (reader) => {
      await rejectsWith(collect(reader.fetch('INBOX', [101])), 'CONN_TIMEOUT');
    }, { reader: { idleTimeoutMs: 300 }, end: 'destroy' });
  });

  test('tagged NO, a malformed response, and a changed UIDVALIDITY are errors', async () => {
    let mode = 'no';
    await withFakeReader((tag, set, socket) => {
      if (mode === 'no') socket.write(`${tag} NO [SERVERBUG] Internal error occurred\r\n`);
      else if (mode === 'bad') socket.write(`* 1 FETCH (UID x)\r\n${tag} OK done\r\n`);
      else socket.write(plainAnswer(tag, set));
    }, async (reader) => {
      const err = await rejectsWith(collect(reader.fetch('INBOX', [101])), 'IMAP_PROTOCOL');
      assert.equal(err.params.folder, 'INBOX');
      mode = 'ok';
      assert.equal((await collect(reader.fetch('INBOX', [101]))).length, 1, 'usable after a NO');
      await rejectsWith(collect(reader.fetch('Moved', [101], { expectedUidValidity: 41n })), 'SOURCE_FOLDER_VANISHED');
      mode = 'bad';
      await rejectsWith(collect(reader.fetch('INBOX', [101])), 'IMAP_PROTOCOL');
      assert.equal(reader.alive, false, 'a stream we cannot parse is dropped');
    }, { uidValidity: 42, end: 'destroy' });
  });
});

// ------------------------------------------------------------------ real Dovecot

const PASSWORD = 'raw-fetch-pw';
const USER = 'raw@example.com';

function extraMessages(): CorpusMessage[] {
  const base = Date.UTC(2020, 2, 1, 12, 0, 0);
  return [
    // header only: no blank line, no body
    { folder: 'Header only', raw: b('From: a@example.com\r\nSubject: only a header\r\n'), flags: ['$Label1'], internalDate: base },
    // header and an empty body
    { folder: 'Header only', raw: b('From: a@example.com\r\nSubject: empty body\r\n\r\n'), flags: ['\\Flagged', 'Work'], internalDate: base + 1000 },
    // 8-bit header, keyword-heavy
    { folder: 'Ünïcödé/Ordner 📁', raw: b('Subject: Grüße aus Köln\r\nX-8bit: ✓\r\n\r\nKörper\r\n'), flags: ['\\Answered', '$Forwarded', 'Work', '$Label1'], internalDate: Date.UTC(1999, 11, 31, 23, 59, 59) },
    { folder: 'Ünïcödé/Ordner 📁', raw: b(`Subject: long\r\n\r\n${'0123456789'.repeat(50_000)}\r\n`), flags: [], internalDate: base + 2000 },
  ];
}

function sortedFlags(m: MessageMeta): MessageMeta {
  return { ...m, flags: [...m.flags].sort() };
}

function sameMessage(a: FetchedMessage, b2: FetchedMessage, where: string): void {
  assert.equal(a.uid, b2.uid, `${where}: uid`);
  assert.ok(a.raw.equals(b2.raw), `${where}: raw bytes (${a.raw.length} vs ${b2.raw.length})`);
  assert.ok(a.header.equals(b2.header), `${where}: header bytes`);
  assert.deepEqual(a.flags, b2.flags, `${where}: flags`);
  assert.equal(a.internalDate, b2.internalDate, `${where}: internalDate`);
  assert.equal(a.size, b2.size, `${where}: size`);
  assert.equal(a.modseq, b2.modseq, `${where}: modseq`);
}

describe('raw fetch vs imapflow against Dovecot', { skip: !dovecotAvailable() && 'needs root and dovecot' }, () => {
  let server: DovecotServer;
  let rawStore: MailStore;
  let smallChunks: MailStore;
  let flowStore: MailStore;
  let initial: MailboxMessage[];

  before(async () => {
    server = await startDovecot({ name: 'raw-fetch', folderStyle: 'dovecot', users: [{ user: USER, password: PASSWORD }] });
    const corpus = [
      ...generateCorpus({ messages: 300, seed: 21, sizeMix: 'realistic', largeMessages: { count: 3, bytes: 3_500_000 } }),
      ...extraMessages(),
    ];
    await fillMailbox(server, { user: USER, password: PASSWORD }, corpus);
    initial = await readMailbox(server, { user: USER, password: PASSWORD });
    rawStore = await openMailStore(settingsFor(server, USER, PASSWORD, 'ssl'), { side: 'source' });
    smallChunks = await openMailStore(settingsFor(server, USER, PASSWORD, 'starttls'), { side: 'source' }, { fetch: { messagesPerCommand: 7, bytesPerCommand: 150_000, commandsInFlight: 3 } });
    flowStore = await openMailStore(settingsFor(server, USER, PASSWORD, 'ssl'), { side: 'source' }, { fetchMode: 'imapflow' });
  });
  after(async () => {
    await Promise.all([rawStore?.close(), smallChunks?.close(), flowStore?.close()]);
    await server?.stop();
  });

  test('every folder: raw (default and small chunks) = imapflow = readMailbox, field by field', async () => {
    const expected = new Map(initial.map((m) => [`${m.path}\0${m.uid}`, m]));
    let compared = 0;
    let large = 0;
    for (const folder of await rawStore.listFolders()) {
      if (!folder.selectable) continue;
      const [sa, sb, sc] = await Promise.all([
        rawStore.openFolder(folder.path, { readOnly: true }),
        smallChunks.openFolder(folder.path, { readOnly: true }),
        flowStore.openFolder(folder.path, { readOnly: true }),
      ]);
      assert.equal(sa.uidValidity, sc.uidValidity);
      assert.equal(sb.uidValidity, sc.uidValidity);
      const uids = await rawStore.listUids();
      if (uids.length === 0) continue;
      await collect(smallChunks.fetchMeta(uids)); // teaches the store the large sizes, as the engine does
      const [a, bb, c] = [await collect(rawStore.fetchMessages(uids)), await collect(smallChunks.fetchMessages(uids)), await collect(flowStore.fetchMessages(uids))];
      assert.equal(a.length, uids.length, folder.path);
      assert.equal(bb.length, uids.length, folder.path);
      assert.equal(c.length, uids.length, folder.path);
      for (let i = 0; i < a.length; i++) {
        const where = `${folder.path} #${a[i]!.uid}`;
        sameMessage(a[i]!, c[i]!, where);
        sameMessage(bb[i]!, c[i]!, `${where} (small chunks)`);
        const ref = expected.get(`${folder.path}\0${a[i]!.uid}`);
        assert.ok(ref, where);
        assert.ok(a[i]!.raw.equals(ref.raw), `${where}: readMailbox bytes`);
        assert.deepEqual([...a[i]!.flags].sort(), ref.flags, `${where}: readMailbox flags`);
        assert.equal(a[i]!.internalDate, ref.internalDate, `${where}: readMailbox date`);
        compared++;
        if (a[i]!.raw.length > 1_000_000) large++;
      }
    }
    assert.equal(compared, initial.length);
    assert.ok(large >= 3, `multi-MB messages compared: ${large}`);
    assert.ok(initial.some((m) => m.path.startsWith('Ünïcödé')));
    assert.ok(initial.some((m) => m.flags.includes('Work') && m.flags.includes('$Label1')));
  });

  test('sparse UID sets and UIDs that do not exist', async () => {
    await Promise.all([rawStore.openFolder('INBOX', { readOnly: true }), flowStore.openFolder('INBOX', { readOnly: true })]);
    const uids = await rawStore.listUids();
    assert.ok(uids.length > 50);
    const sparse = uids.filter((u, i) => i % 3 === 0 || i % 7 === 1).reverse();
    const asked = [...sparse, 999_999, 1_000_001];
    const a = await collect(rawStore.fetchMessages(asked));
    const c = await collect(flowStore.fetchMessages(asked));
    assert.deepEqual(a.map((m) => m.uid), [...sparse].sort((x, y) => x - y));
    a.forEach((m, i) => sameMessage(m, c[i]!, `INBOX #${m.uid}`));
    assert.deepEqual(await collect(rawStore.fetchMessages([])), []);
    // Stopping early leaves the store usable.
    for await (const m of rawStore.fetchMessages(uids)) {
      assert.equal(m.uid, uids[0]);
      break;
    }
    assert.equal((await collect(rawStore.fetchMessages(uids.slice(0, 5)))).length, 5);
  });

  test('metadata and headers: raw = imapflow for every folder (all, UID lists with gaps and unknown UIDs, empty folders)', async () => {
    const writer = await openMailStore(settingsFor(server, USER, PASSWORD, 'ssl'), { side: 'target' });
    await writer.createFolder('Empty for meta');
    await writer.close();
    let compared = 0;
    let empty = 0;
    let headers = 0;
    for (const folder of await rawStore.listFolders()) {
      if (!folder.selectable) continue;
      await Promise.all([rawStore.openFolder(folder.path, { readOnly: true }), flowStore.openFolder(folder.path, { readOnly: true })]);
      const uids = await flowStore.listUids();
      const [a, c] = [await collect(rawStore.fetchMeta('all')), await collect(flowStore.fetchMeta('all'))];
      assert.deepEqual(a.map(sortedFlags), c.map(sortedFlags), folder.path);
      assert.deepEqual(a.map((m) => m.uid), uids, folder.path);
      if (uids.length === 0) {
        empty++;
        continue;
      }
      const asked = [...uids.filter((_, i) => i % 2 === 0).reverse(), 999_999];
      const [sa, sc] = [await collect(rawStore.fetchMeta(asked)), await collect(flowStore.fetchMeta(asked))];
      assert.deepEqual(sa.map(sortedFlags), sc.map(sortedFlags), `${folder.path} (UID list)`);
      assert.equal(sa.length, asked.length - 1);
      const byUid = (x: { uid: number }, y: { uid: number }): number => x.uid - y.uid;
      const [ha, hc] = [await collect(rawStore.fetchHeaders(asked)), await collect(flowStore.fetchHeaders(asked))];
      assert.equal(ha.length, asked.length - 1, `${folder.path} headers`);
      assert.deepEqual(ha.map((h) => h.uid), [...hc].sort(byUid).map((h) => h.uid));
      [...hc].sort(byUid).forEach((h, i) => {
        assert.equal(ha[i]!.size, h.size, `${folder.path} #${h.uid} size`);
        assert.ok(ha[i]!.header.equals(h.header), `${folder.path} #${h.uid} header bytes`);
      });
      headers += ha.length;
      compared += a.length;
    }
    assert.equal(compared, initial.length);
    assert.ok(empty > 0, 'an empty folder was read');
    assert.ok(headers > initial.length / 3, `headers compared: ${headers}`);
    assert.ok(initial.every((m) => m.internalDate > 0));
  });

  test('metadata with CHANGEDSINCE: only what changed, raw = imapflow', async () => {
    const writer = await openMailStore(settingsFor(server, USER, PASSWORD, 'ssl'), { side: 'target' });
    try {
      const before = await writer.openFolder('INBOX', { readOnly: false });
      assert.ok(before.highestModseq !== null, 'Dovecot has CONDSTORE');
      const uids = await writer.listUids();
      await writer.updateFlags(uids[3]!, ['$MetaTest'], []);
      await Promise.all([rawStore.openFolder('INBOX', { readOnly: true }), flowStore.openFolder('INBOX', { readOnly: true })]);
      const [a, c] = [await collect(rawStore.fetchMeta('all', { changedSince: before.highestModseq! })), await collect(flowStore.fetchMeta('all', { changedSince: before.highestModseq! }))];
      assert.deepEqual(a.map(sortedFlags), c.map(sortedFlags));
      assert.deepEqual(a.map((m) => m.uid), [uids[3]]);
      assert.ok(a[0]!.flags.includes('$MetaTest'));
      assert.ok(a[0]!.modseq !== null && a[0]!.modseq > before.highestModseq!);
    } finally {
      await writer.openFolder('INBOX', { readOnly: false });
      const uids = await writer.listUids();
      await writer.updateFlags(uids[3]!, [], ['$MetaTest']);
      await writer.close();
    }
  });

  test('\\Seen is never set by either mode', async () => {
    const now = await readMailbox(server, { user: USER, password: PASSWORD });
    assert.deepEqual(now.map((m) => `${m.path} ${m.uid} ${m.flags.join(' ')}`), initial.map((m) => `${m.path} ${m.uid} ${m.flags.join(' ')}`));
    assert.ok(initial.some((m) => !m.flags.includes('\\Seen')));
  });

  test('folders switch between fetches (the raw connection EXAMINEs the folder the store has open)', async () => {
    const counts = new Map<string, number>();
    for (const m of initial) counts.set(m.path, (counts.get(m.path) ?? 0) + 1);
    for (const path of ['Sent', 'INBOX', 'Header only', 'Sent']) {
      await rawStore.openFolder(path, { readOnly: true });
      const got = await collect(rawStore.fetchMessages(await rawStore.listUids()));
      assert.equal(got.length, counts.get(path), path);
      const refs = initial.filter((m) => m.path === path);
      got.forEach((m, i) => assert.ok(m.raw.equals(refs[i]!.raw), `${path} #${m.uid}`));
    }
  });

  test('a connection killed mid-fetch is CONN_LOST, not a hang', async () => {
    // A TCP relay in front of Dovecot that cuts every connection once one has carried 1 MB down.
    const relayed: net.Socket[] = [];
    let cut = false;
    const relay = net.createServer((client) => {
      const upstream = net.connect(server.imapPort, server.host);
      relayed.push(client, upstream);
      let down = 0;
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        down += chunk.length;
        if (down > 1_000_000 && !cut) {
          cut = true;
          for (const s of relayed) s.destroy();
          return;
        }
        client.write(chunk);
      });
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as net.AddressInfo).port;
    const bytesByFolder = new Map<string, number>();
    for (const m of initial) bytesByFolder.set(m.path, (bytesByFolder.get(m.path) ?? 0) + m.raw.length);
    const [biggest, bytes] = [...bytesByFolder].sort((x, y) => y[1] - x[1])[0]!;
    assert.ok(bytes > 2_000_000, `${biggest}: ${bytes}`);
    const store = await openMailStore({ ...settingsFor(server, USER, PASSWORD, 'none'), port }, { side: 'source' });
    try {
      await store.openFolder(biggest, { readOnly: true });
      const uids = await store.listUids();
      const started = Date.now();
      const err = await rejectsWith(collect(store.fetchMessages(uids)), 'CONN_LOST');
      assert.equal(err.params.side, 'source');
      assert.ok(cut, 'the relay cut the connection');
      assert.ok(Date.now() - started < 10_000);
    } finally {
      await store.close();
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});
