/**
 * The users CSV of a migration batch (one row per mailbox), validated the way the Exchange Online
 * IMAP migration wizard does it, with the same wording admins already search for, but reporting every
 * problem at once rather than one per upload.
 *
 * Row numbers in messages are spreadsheet rows: the header is row 1 and the first user is row 2,
 * which is what Excel shows next to the row, so "Row 7" can be found without counting.
 *
 * Passwords never reach an error: neither its message nor its params (which end up in logs).
 */

import { MailshiftError } from '../domain/errors.ts';
import { parseCsv, type CsvRow } from './csv-parse.ts';

export interface UserRow {
  /** Spreadsheet row number (header = 1). */
  row: number;
  /** Address of the target mailbox. */
  emailAddress: string;
  /** Source login, byte for byte: admin formats such as `Domain/Admin/alice` or `alice*mailadmin` are opaque here. */
  userName: string;
  password: string;
  userRoot?: string;
  targetUserName?: string;
  targetPassword?: string;
}

export interface UsersCsvOptions {
  /** Maximum number of users (data rows); the wizard's limit is 50,000. */
  maxRows?: number;
  /** Maximum file size in bytes; the wizard's limit is 10 MB. */
  maxBytes?: number;
}

export type UsersCsvResult = { ok: true; users: UserRow[] } | { ok: false; errors: MailshiftError[] };

export const USERS_CSV_MAX_ROWS = 50_000;
export const USERS_CSV_MAX_BYTES = 10 * 1024 * 1024;

type ColumnKey = 'emailAddress' | 'userName' | 'password' | 'userRoot' | 'targetUserName' | 'targetPassword';

const COLUMNS: ReadonlyArray<{ key: ColumnKey; name: string; required: boolean }> = [
  { key: 'emailAddress', name: 'EmailAddress', required: true },
  { key: 'userName', name: 'UserName', required: true },
  { key: 'password', name: 'Password', required: true },
  { key: 'userRoot', name: 'UserRoot', required: false },
  { key: 'targetUserName', name: 'TargetUserName', required: false },
  { key: 'targetPassword', name: 'TargetPassword', required: false },
];

const COLUMN_LIST = COLUMNS.map((c) => c.name).join(', ');

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

type Decoded = { ok: true; text: string } | { ok: false; line: number };

/**
 * Excel's "CSV UTF-8" adds a BOM; its plain "CSV" uses the Windows code page, which would silently
 * mangle non-ASCII passwords if decoded leniently. So invalid UTF-8 is refused with the line to fix.
 */
function decode(input: Buffer | string): Decoded {
  if (typeof input === 'string') return { ok: true, text: input };
  if (input.length >= 2 && input[0] === 0xff && input[1] === 0xfe) {
    return { ok: true, text: new TextDecoder('utf-16le').decode(input.subarray(2)) };
  }
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(input) };
  } catch {
    let line = 1;
    let start = 0;
    const strict = new TextDecoder('utf-8', { fatal: true });
    for (let end = 0; end <= input.length; end++) {
      if (end < input.length && input[end] !== 0x0a) continue;
      try {
        strict.decode(input.subarray(start, end));
      } catch {
        return { ok: false, line };
      }
      line++;
      start = end + 1;
    }
    return { ok: false, line: 1 };
  }
}

// Pragmatic, not RFC 5322: the address must be deliverable on a modern server (dot-atom local part,
// internationalised letters allowed, DNS-shaped domain). Quoted local parts are not accepted.
const LOCAL_PART = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;

export function isValidEmailAddress(address: string): boolean {
  if (address.length > 254) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local)) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  if (!labels.every((label) => DOMAIN_LABEL.test(label))) return false;
  return !/^\d+$/.test(labels[labels.length - 1] as string);
}

function isAllEmpty(row: CsvRow): boolean {
  return row.fields.every((f) => f === '');
}

export function parseUsersCsv(input: Buffer | string, options: UsersCsvOptions = {}): UsersCsvResult {
  const maxRows = options.maxRows ?? USERS_CSV_MAX_ROWS;
  const maxBytes = options.maxBytes ?? USERS_CSV_MAX_BYTES;
  const errors: MailshiftError[] = [];
  const fail = (): UsersCsvResult => ({ ok: false, errors });

  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > maxBytes) {
    // Not parsed at all: the file has to be split anyway, and the limit also bounds the work done here.
    errors.push(new MailshiftError('CSV_TOO_LARGE', { size: formatSize(size) }));
    return fail();
  }

  const decoded = decode(input);
  if (!decoded.ok) {
    errors.push(new MailshiftError('CSV_MALFORMED', {
      row: decoded.line,
      detail: `line ${decoded.line} is not valid UTF-8 text. Save the file as "CSV UTF-8 (Comma delimited)".`,
    }));
    return fail();
  }

  const { rows: parsed, problems } = parseCsv(decoded.text);
  const malformed = (p: { row: number; detail: string }): MailshiftError =>
    new MailshiftError('CSV_MALFORMED', { row: p.row, detail: p.detail });
  if (parsed.length === 0 && problems.length === 0) {
    errors.push(new MailshiftError('CSV_EMPTY'));
    return fail();
  }
  const header = parsed[0];
  const firstProblem = problems[0];
  if (header === undefined || (firstProblem !== undefined && firstProblem.row < header.row)) {
    // The header itself is unreadable, so no column can be located; only the syntax can be reported.
    errors.push(...problems.map(malformed));
    return fail();
  }

  // Excel keeps ",,," rows for cells that were once edited and then cleared; they carry no user.
  const dataRows = parsed.slice(1).filter((r) => !isAllEmpty(r));

  // ---- header ----
  const columnIndex = new Map<ColumnKey, number>();
  const headerErrors: MailshiftError[] = [];
  const unknown: Array<{ position: number; name: string }> = [];
  header.fields.forEach((raw, position) => {
    const name = raw.trim();
    const spec = COLUMNS.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!spec) {
      unknown.push({ position: position + 1, name });
      return;
    }
    if (columnIndex.has(spec.key)) {
      headerErrors.push(new MailshiftError('CSV_MALFORMED', {
        row: header.row,
        detail: `the column "${spec.name}" appears more than once.`,
      }));
      return;
    }
    columnIndex.set(spec.key, position);
  });
  for (const spec of COLUMNS) {
    if (spec.required && !columnIndex.has(spec.key)) {
      headerErrors.push(new MailshiftError('CSV_COLUMN_MISSING', { column: spec.name }));
    }
  }
  // The pair logs in to the target for the user; one without the other cannot be used.
  if (columnIndex.has('targetUserName') !== columnIndex.has('targetPassword')) {
    headerErrors.push(new MailshiftError('CSV_COLUMN_MISSING', {
      column: columnIndex.has('targetUserName') ? 'TargetPassword' : 'TargetUserName',
    }));
  }
  // When nothing in the first row is a known column name the file simply has no header row; one
  // error per data value would only bury the "missing column" messages that explain it.
  if (columnIndex.size > 0) {
    for (const { position, name } of unknown) {
      headerErrors.push(new MailshiftError('CSV_MALFORMED', {
        row: header.row,
        detail: name === ''
          ? `column ${position} has no name. The accepted columns are ${COLUMN_LIST}.`
          : `the column "${name}" is not known. The accepted columns are ${COLUMN_LIST}.`,
      }));
    }
  }

  if (dataRows.length === 0 && problems.length === 0) {
    errors.push(...headerErrors, new MailshiftError('CSV_EMPTY'));
    return fail();
  }

  if (dataRows.length > maxRows) {
    // Row-level errors are left out: their row numbers change once the file is split.
    errors.push(new MailshiftError('CSV_TOO_MANY_ROWS'), ...headerErrors);
    return fail();
  }
  errors.push(...headerErrors);

  // ---- rows ----
  // Parser problems and row checks are merged by row so the report reads top to bottom.
  const rowErrors: Array<{ row: number; error: MailshiftError }> = problems.map((p) => ({ row: p.row, error: malformed(p) }));

  const expected = header.fields.length;
  const firstRowOf = new Map<string, number>();
  const users: UserRow[] = [];
  const value = (r: CsvRow, key: ColumnKey): string => {
    const index = columnIndex.get(key);
    if (index === undefined) return '';
    // Spaces around a name are spreadsheet noise; around a password they may be part of it.
    return (key === 'password' || key === 'targetPassword' ? r.untrimmed[index] : r.fields[index]) ?? '';
  };

  for (const r of dataRows) {
    const add = (error: MailshiftError): void => { rowErrors.push({ row: r.row, error }); };
    if (r.fields.length !== expected) {
      // Values are misaligned, so checking them would report nonsense (or expose a password as an address).
      add(new MailshiftError('CSV_WRONG_COLUMN_COUNT', { row: r.row, expected, actual: r.fields.length }));
      continue;
    }
    const emailAddress = value(r, 'emailAddress');
    const userName = value(r, 'userName');
    const password = value(r, 'password');
    const userRoot = value(r, 'userRoot');
    const targetUserName = value(r, 'targetUserName');
    const targetPassword = value(r, 'targetPassword');
    const before = rowErrors.length;

    if (columnIndex.has('emailAddress')) {
      if (emailAddress === '') {
        add(new MailshiftError('CSV_EMPTY_VALUE', { row: r.row, column: 'EmailAddress' }));
      } else if (!isValidEmailAddress(emailAddress)) {
        add(new MailshiftError('CSV_INVALID_ADDRESS', { row: r.row, value: safeEcho(emailAddress, [password, targetPassword]) }));
      } else {
        const normalized = emailAddress.toLowerCase();
        const firstRow = firstRowOf.get(normalized);
        if (firstRow === undefined) firstRowOf.set(normalized, r.row);
        else add(new MailshiftError('CSV_DUPLICATE_ADDRESS', { row: r.row, address: emailAddress, firstRow }));
      }
    }
    if (columnIndex.has('userName') && userName === '') {
      add(new MailshiftError('CSV_EMPTY_VALUE', { row: r.row, column: 'UserName' }));
    }
    if (columnIndex.has('password') && password === '') {
      add(new MailshiftError('CSV_EMPTY_VALUE', { row: r.row, column: 'Password' }));
    }
    if (targetUserName !== '' && targetPassword === '' && columnIndex.has('targetPassword')) {
      add(new MailshiftError('CSV_EMPTY_VALUE', { row: r.row, column: 'TargetPassword' }));
    }
    if (targetPassword !== '' && targetUserName === '' && columnIndex.has('targetUserName')) {
      add(new MailshiftError('CSV_EMPTY_VALUE', { row: r.row, column: 'TargetUserName' }));
    }

    if (rowErrors.length === before) {
      const user: UserRow = { row: r.row, emailAddress, userName, password };
      if (userRoot !== '') user.userRoot = userRoot;
      if (targetUserName !== '' && targetPassword !== '') {
        user.targetUserName = targetUserName;
        user.targetPassword = targetPassword;
      }
      users.push(user);
    }
  }

  rowErrors.sort((a, b) => a.row - b.row);
  errors.push(...rowErrors.map((e) => e.error));

  return errors.length === 0 ? { ok: true, users } : fail();
}

/**
 * An invalid address is echoed so the admin can spot the typo, unless it could be a secret: columns
 * shifted by hand can put a password under EmailAddress, and a value without "@" is no address typo.
 */
function safeEcho(value: string, secrets: string[]): string {
  const leaks = secrets.some((s) => s !== '' && (value.includes(s) || s.includes(value)));
  if (leaks || !value.includes('@')) return '(a value without @, not shown in case it is a password)';
  return value;
}
