/**
 * Deterministic sample mail: the same options always yield byte-identical messages, so tests,
 * the demo and benchmarks can be compared run to run and across tools. No clock, no Math.random.
 *
 * Folder paths use '/' as the logical hierarchy separator; fillMailbox translates it to the
 * server's own delimiter.
 */

export interface CorpusMessage {
  folder: string;
  /** RFC 5322 bytes with CRLF line endings. */
  raw: Buffer;
  flags: string[];
  /** Epoch ms, whole seconds (IMAP INTERNALDATE has second precision). */
  internalDate: number;
}

export interface CorpusOptions {
  /** Default 1. */
  seed?: number;
  /** Total number of messages, large ones included. */
  messages: number;
  /** Default: DEFAULT_CORPUS_FOLDERS. INBOX is always used if present; weights favour the first folders. */
  folders?: string[];
  /**
   * 'small' (default): 0.5-4 KB plain text, fast to generate and copy.
   * 'realistic': mostly 2-50 KB (text, multipart/alternative, attachments), ~0.5 % 1-5 MB.
   */
  sizeMix?: 'small' | 'realistic';
  /** `count` of the `messages` are replaced by attachment-carrying messages of exactly `bytes` bytes (min 4 KB). */
  largeMessages?: { count: number; bytes: number };
}

/** About 15 folders with nesting, non-ASCII and emoji names; 'Projects' and 'Lists' exist only as parents. */
export const DEFAULT_CORPUS_FOLDERS: readonly string[] = [
  'INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive', 'Archive/2023', 'Archive/2024',
  'Projects/Alpha', 'Projects/Alpha/Specs', 'Projects/Beta', 'Lists/node', 'Lists/dovecot',
  'Reçus', 'Überweisung', 'Émoji 🎉',
];

// ---------------------------------------------------------------- PRNG

/** sfc32: small, fast, good statistical quality; 32-bit state words. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

// ---------------------------------------------------------------- vocabulary

const WORDS = ('the of and to in is that for it as was with be by on not he this are or his from at which but have an ' +
  'they you were her she there been one all we their has would when if so no will can more about up out them some ' +
  'could into other then its time only new like these two may first any do my now such over our even most after also ' +
  'migration mailbox folder server message quota release budget meeting schedule invoice report draft review ' +
  'deadline contract project alpha beta launch feedback agenda summary results proposal customer support ' +
  'straße café naïve résumé façade Ärger Übersicht señal zürich crème déjà').split(' ');

const PEOPLE: ReadonlyArray<readonly [string, string]> = [
  ['Alice Martin', 'alice@example.com'], ['Bob Stone', 'bob@example.org'], ['Chloé Dubois', 'chloe@example.fr'],
  ['Jürgen Weiß', 'juergen@example.de'], ['Dana Lee', 'dana@corp.example'], ['Eve Park', 'eve@example.net'],
  ['Frank Osei', 'frank@example.com'], ['Grace Kim', 'grace@lists.example'], ['Hiro Tanaka', 'hiro@example.jp'],
  ['Ines Costa', 'ines@example.pt'], ['node-dev', 'node-dev@lists.example'], ['dovecot', 'dovecot@lists.example'],
];

const SUBJECTS = [
  'Quarterly report', 'Re: Budget review', 'Meeting notes', 'Fwd: Contract draft', 'Invoice #{n}', 'Weekly sync',
  'Project Alpha status', 'Re: Re: launch plan', 'Holiday schedule', 'Your order #{n} has shipped',
  '[node] Release v{n}', '[dovecot] quota question', 'Überweisung bestätigt', 'Reçu de paiement {n}',
  'Café meeting ☕', 'Party 🎉 on Friday', 'Feedback requested', 'Server migration window',
];

const TIMEZONES = ['+0000', '+0100', '+0200', '-0500', '-0800', '+0530', '+0900', '-0300', '+1000', '+0100'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** INTERNALDATEs fall in [2019-01-01, 2025-07-01). */
const DATE_FROM_S = Date.UTC(2019, 0, 1) / 1000;
const DATE_SPAN_S = Date.UTC(2025, 6, 1) / 1000 - DATE_FROM_S;

// ---------------------------------------------------------------- building blocks

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** RFC 5322 date-time of `epochMs` as seen in time zone `tz` (e.g. '+0530'). */
function rfc5322Date(epochMs: number, tz: string): string {
  const sign = tz.startsWith('-') ? -1 : 1;
  const offsetMin = sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5)));
  const d = new Date(epochMs + offsetMin * 60_000);
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ${tz}`;
}

function encodedWord(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

function address([name, email]: readonly [string, string]): string {
  return `${encodedWord(name).includes('=?') ? encodedWord(name) : `"${name}"`} <${email}>`;
}

/** Text of exactly `bytes` bytes (UTF-8 unless asciiOnly), CRLF-terminated lines of at most ~80 bytes. */
function textOfSize(rng: Rng, bytes: number, asciiOnly: boolean): Buffer {
  const lines: Buffer[] = [];
  let total = 0;
  for (;;) {
    let line = '';
    while (line.length < 60) {
      const word = rng.pick(WORDS);
      line += (line ? ' ' : '') + (asciiOnly && !/^[\x20-\x7e]*$/.test(word) ? 'text' : word);
    }
    const buf = Buffer.from(rng.chance(0.1) ? `${line}.\r\n\r\n` : `${line}\r\n`, 'utf8');
    if (total + buf.length > bytes) break;
    lines.push(buf);
    total += buf.length;
  }
  let rest = bytes - total;
  // A final line needs at least its CRLF; fold a lone leftover byte into it.
  if (rest === 1 && lines.length > 0) rest += (lines.pop() as Buffer).length;
  if (rest >= 2) lines.push(Buffer.from(`${'~'.repeat(rest - 2)}\r\n`, 'ascii'));
  else if (rest === 1) lines.push(Buffer.from('\n', 'ascii'));
  return Buffer.concat(lines);
}

function base64Lines(data: Buffer): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\r\n') + '\r\n';
}

const ATTACHMENTS: ReadonlyArray<readonly [string, string]> = [
  ['application/pdf', 'report.pdf'], ['image/jpeg', 'photo.jpg'], ['image/png', 'diagram.png'],
  ['application/zip', 'archive.zip'], ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'budget.xlsx'],
];

// ---------------------------------------------------------------- messages

interface Shape {
  kind: 'text' | 'alternative' | 'attachment';
  bytes: number;
}

function pickShape(rng: Rng, mix: 'small' | 'realistic'): Shape {
  if (mix === 'small') return { kind: 'text', bytes: rng.int(512, 4096) };
  const r = rng.next();
  if (r < 0.005) return { kind: 'attachment', bytes: rng.int(1 << 20, 5 << 20) };
  if (r < 0.60) return { kind: 'text', bytes: rng.int(2048, 12_000) };
  if (r < 0.80) return { kind: 'alternative', bytes: rng.int(4096, 30_000) };
  return { kind: 'attachment', bytes: rng.int(12_000, 50_000) };
}

function pickFolder(rng: Rng, folders: readonly string[]): string {
  // Zipf-like weights: the first folders (INBOX, Sent, ...) hold most mail, as in real mailboxes;
  // drafts, junk and trash stay small.
  const weights = folders.map((name, i) => (/drafts|junk|trash|spam|deleted/i.test(name) ? 0.25 : 1) / (i + 1.5));
  let r = rng.next() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < folders.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return folders[i] as string;
  }
  return folders[folders.length - 1] as string;
}

function pickFlags(rng: Rng, folder: string): string[] {
  const flags: string[] = [];
  const isDrafts = /drafts/i.test(folder);
  if (isDrafts ? rng.chance(0.9) : rng.chance(0.02)) flags.push('\\Draft');
  if (!isDrafts && rng.chance(0.7)) flags.push('\\Seen');
  if (rng.chance(0.15)) flags.push('\\Answered');
  if (rng.chance(0.08)) flags.push('\\Flagged');
  if (rng.chance(0.05)) flags.push('$Label1');
  if (rng.chance(0.05)) flags.push('Work');
  if (rng.chance(0.05)) flags.push('$Forwarded');
  return flags;
}

function buildMessage(rng: Rng, index: number, shape: Shape, internalDate: number, messageId: string | null): Buffer {
  const from = rng.pick(PEOPLE);
  let to = rng.pick(PEOPLE);
  if (to === from) to = PEOPLE[(PEOPLE.indexOf(from) + 1) % PEOPLE.length] as readonly [string, string];
  const subject = rng.pick(SUBJECTS).replace('{n}', String(1000 + index));
  const sentAt = internalDate - rng.int(0, 600) * 1000;
  const tz = rng.pick(TIMEZONES);
  const boundary = `=_ms_${index.toString(36)}_${rng.u32().toString(36)}`;
  const headerLines = [
    `Return-Path: <${from[1]}>`,
    `Received: from mx${rng.int(1, 9)}.example.net (mx.example.net [192.0.2.${rng.int(1, 254)}])\r\n\tby imap.example.com with ESMTPS id ${rng.u32().toString(16)}\r\n\tfor <${to[1]}>; ${rfc5322Date(internalDate, tz)}`,
    `Date: ${rfc5322Date(sentAt, tz)}`,
    `From: ${address(from)}`,
    `To: ${address(to)}`,
    ...(rng.chance(0.2) ? [`Cc: ${address(rng.pick(PEOPLE))}`] : []),
    `Subject: ${encodedWord(subject)}`,
    ...(messageId ? [`Message-ID: ${messageId}`] : []),
    'MIME-Version: 1.0',
  ];
  const utf8 = rng.chance(0.5);
  const textHeaders = `Content-Type: text/plain; charset=${utf8 ? 'utf-8' : 'us-ascii'}\r\nContent-Transfer-Encoding: ${utf8 ? '8bit' : '7bit'}`;

  if (shape.kind === 'text') {
    const head = Buffer.from(`${headerLines.join('\r\n')}\r\n${textHeaders}\r\n\r\n`, 'utf8');
    return Buffer.concat([head, textOfSize(rng, Math.max(64, shape.bytes - head.length), !utf8)]);
  }

  if (shape.kind === 'alternative') {
    const head = `${headerLines.join('\r\n')}\r\nContent-Type: multipart/alternative; boundary="${boundary}"\r\n\r\nThis is a multi-part message in MIME format.\r\n`;
    const textBudget = Math.max(128, Math.floor((shape.bytes - head.length) * 0.4));
    const text = textOfSize(rng, textBudget, !utf8);
    const htmlBody = textOfSize(rng, Math.max(128, shape.bytes - head.length - textBudget - 400), !utf8)
      .toString('utf8').split('\r\n\r\n').map((p) => `<p>${p}</p>`).join('\r\n');
    return Buffer.concat([
      Buffer.from(`${head}\r\n--${boundary}\r\n${textHeaders}\r\n\r\n`, 'utf8'), text,
      Buffer.from(`\r\n--${boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><body>\r\n${htmlBody}\r\n</body></html>\r\n\r\n--${boundary}--\r\n`, 'utf8'),
    ]);
  }

  // Attachment: text part + one base64 part; the text part absorbs the remainder so the total is exact.
  const [mime, filename] = rng.pick(ATTACHMENTS);
  const head = Buffer.from(`${headerLines.join('\r\n')}\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--${boundary}\r\n${textHeaders}\r\n\r\n`, 'utf8');
  const partHead = Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${mime}; name="${filename}"\r\nContent-Disposition: attachment; filename="${filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n`, 'utf8');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  const fixed = head.length + partHead.length + tail.length;
  const minText = 256;
  // base64: 4 chars per 3 bytes + CRLF per 76 chars => ~1.3684 encoded bytes per raw byte.
  let rawBytes = Math.max(3, Math.floor(((shape.bytes - fixed - minText) / 78) * 76 / 4) * 3);
  let encoded = base64Lines(rng.bytes(rawBytes));
  while (rawBytes > 3 && fixed + encoded.length + minText > shape.bytes) {
    rawBytes -= 57;
    encoded = base64Lines(rng.bytes(rawBytes));
  }
  const text = textOfSize(rng, Math.max(minText, shape.bytes - fixed - encoded.length), !utf8);
  return Buffer.concat([head, text, partHead, Buffer.from(encoded, 'ascii'), tail]);
}

export function generateCorpus(options: CorpusOptions): CorpusMessage[] {
  const seed = options.seed ?? 1;
  const rng = new Rng(seed);
  const folders = options.folders && options.folders.length > 0 ? options.folders : DEFAULT_CORPUS_FOLDERS;
  const mix = options.sizeMix ?? 'small';
  const count = Math.max(0, Math.floor(options.messages));
  const large = options.largeMessages;
  const largeCount = large ? Math.min(count, Math.max(0, Math.floor(large.count))) : 0;
  if (large && largeCount > 0 && large.bytes < 4096) throw new Error('largeMessages.bytes must be at least 4096');
  // Large messages at evenly spread, deterministic positions.
  const largeAt = new Set<number>();
  for (let i = 0; i < largeCount; i++) largeAt.add(Math.floor(((i + 0.5) * count) / largeCount));

  const messages: CorpusMessage[] = [];
  for (let index = 0; index < count; index++) {
    // A small share repeats an earlier message byte for byte in another folder (a copy filed twice),
    // and a few lack a Message-ID, as real mailboxes do: dedup logic must cope with both.
    if (index > 10 && !largeAt.has(index) && rng.chance(0.01)) {
      const original = messages[rng.int(0, messages.length - 1)] as CorpusMessage;
      if (original.raw.length <= 1 << 20) {
        let folder = pickFolder(rng, folders);
        if (folder === original.folder && folders.length > 1) folder = folders[(folders.indexOf(folder) + 1) % folders.length] as string;
        messages.push({ folder, raw: original.raw, flags: pickFlags(rng, folder), internalDate: original.internalDate });
        continue;
      }
    }
    const folder = pickFolder(rng, folders);
    const shape: Shape = largeAt.has(index) && large ? { kind: 'attachment', bytes: large.bytes } : pickShape(rng, mix);
    const internalDate = (DATE_FROM_S + Math.floor(rng.next() * DATE_SPAN_S)) * 1000;
    const messageId = rng.chance(0.005) ? null : `<${index.toString(16).padStart(6, '0')}.${rng.u32().toString(16)}.${seed}@mailshift.test>`;
    const raw = buildMessage(rng, index, shape, internalDate, messageId);
    messages.push({ folder, raw, flags: pickFlags(rng, folder), internalDate });
  }
  return messages;
}
