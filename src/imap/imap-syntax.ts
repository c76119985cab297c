/**
 * Small pieces of IMAP grammar (RFC 3501 §9 / RFC 9051 §9) shared by the imapflow store and the
 * raw append writer: sequence sets, quoted strings, date-time, flags.
 */

/** [1,2,3,5,7,8] → "1:3,5,7:8". Input order does not matter; duplicates collapse. */
export function compactUidSet(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] as number;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) {
      end = sorted[++i] as number;
    }
    parts.push(start === end ? String(start) : `${start}:${end}`);
    i++;
  }
  return parts.join(',');
}

/**
 * Splits UIDs into ascending groups whose compact set stays under `maxChars`. Servers cap command
 * lines (Dovecot imap_max_line_length 64 KiB, Exchange and some appliances ~8 KiB; RFC 7162 §4
 * recommends clients keep lines under 8192 octets), and a sparse folder's UID list is long.
 */
export function chunkUidSets(uids: readonly number[], maxChars = 7000, maxCount = Number.POSITIVE_INFINITY): string[] {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const chunks: string[] = [];
  let current: number[] = [];
  let length = 0;
  for (const uid of sorted) {
    // Upper bound of what uid adds to the compact set: its digits and one separator.
    const cost = String(uid).length + 1;
    if (current.length > 0 && (length + cost > maxChars || current.length >= maxCount)) {
      chunks.push(compactUidSet(current));
      current = [];
      length = 0;
    }
    current.push(uid);
    length += cost;
  }
  if (current.length > 0) chunks.push(compactUidSet(current));
  return chunks;
}

/** Same split, returning the UID arrays (used where imapflow takes its own range strings). */
export function chunkUids(uids: readonly number[], maxChars = 7000, maxCount = Number.POSITIVE_INFINITY): number[][] {
  return chunkUidSets(uids, maxChars, maxCount).map(expandUidSet);
}

/** "3955:3957,3960" → [3955,3956,3957,3960], in the order written (RFC 4315 uid-set). */
export function expandUidSet(set: string, limit = 1_000_000): number[] {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const [a, b] = part.split(':');
    const start = Number(a);
    const end = b === undefined ? start : Number(b);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start <= 0 || end <= 0) {
      throw new Error(`invalid uid-set "${set}"`);
    }
    const lo = Math.min(start, end);
    const hi = Math.max(start, end);
    if (out.length + (hi - lo + 1) > limit) throw new Error(`uid-set "${set}" too large`);
    for (let u = lo; u <= hi; u++) out.push(u);
  }
  return out;
}

/** A quoted string (RFC 3501 quoted): only `\` and `"` are escaped; CR/LF/NUL cannot be quoted. */
export function quoteString(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new Error('value cannot be sent as a quoted string');
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Epoch ms → RFC 3501 date-time "dd-Mon-yyyy hh:mm:ss +0000" (UTC; the instant is what matters). */
export function formatInternalDate(epochMs: number): string {
  const d = new Date(epochMs);
  if (Number.isNaN(d.getTime())) throw new Error(`invalid internal date ${epochMs}`);
  const year = String(d.getUTCFullYear()).padStart(4, '0');
  return `${pad2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${year} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
}

const SYSTEM_FLAGS = new Map(['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'].map((f) => [f.toLowerCase(), f]));
// atom-specials (RFC 3501 §9): "(" ")" "{" SP CTL list-wildcards quoted-specials resp-specials.
const ATOM = /^[^(){ \x00-\x1f\x7f%*"\\\]]+$/;

/**
 * Flags as APPEND/STORE accept them: system flags in canonical case; keywords must be atoms.
 * \Recent is server-managed (RFC 3501 §2.3.2) and cannot be set; other backslash flags would be
 * flag-extensions the server never announced. Returns what can be sent and what was dropped.
 */
export function normaliseFlags(flags: Iterable<string>): { flags: string[]; dropped: string[] } {
  const out: string[] = [];
  const dropped: string[] = [];
  const seen = new Set<string>();
  for (const flag of flags) {
    let value: string | null = null;
    if (flag.startsWith('\\')) value = SYSTEM_FLAGS.get(flag.toLowerCase()) ?? null;
    else if (ATOM.test(flag)) value = flag;
    if (value === null) {
      dropped.push(flag);
      continue;
    }
    const key = value.toLowerCase();
    if (!seen.has(key)) {
      seen.add(key);
      out.push(value);
    }
  }
  return { flags: out, dropped };
}
