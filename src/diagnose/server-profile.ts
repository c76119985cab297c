/**
 * What the IMAP server is and what that means for a migration: capability flags, server product
 * (from the greeting and the ID response, RFC 2971), and notes on how mailshift will behave
 * against it. Pure functions over strings, unit-tested without a server.
 */
import type { DiagnoseNote } from './diagnose-types.ts';

/** The capabilities issue 4 asks about, in display order. */
export const INTERESTING_CAPABILITIES = [
  'IMAP4rev1', 'IMAP4rev2', 'STARTTLS', 'LOGINDISABLED', 'ID', 'IDLE', 'CONDSTORE', 'QRESYNC', 'LITERAL+', 'LITERAL-',
  'MULTIAPPEND', 'UIDPLUS', 'SPECIAL-USE', 'COMPRESS=DEFLATE', 'X-GM-EXT-1', 'APPENDLIMIT', 'STATUS=SIZE', 'MOVE', 'NAMESPACE',
] as const;

export interface CapabilitySummary {
  all: string[];
  /** Each interesting capability → offered? (APPENDLIMIT also matches APPENDLIMIT=N.) */
  flags: Record<string, boolean>;
  authMechanisms: string[];
  /** Server-wide APPENDLIMIT in bytes, when advertised with a value. */
  appendLimit: number | null;
}

export function summariseCapabilities(caps: string[]): CapabilitySummary {
  const upper = caps.map((c) => c.toUpperCase());
  const flags: Record<string, boolean> = {};
  for (const cap of INTERESTING_CAPABILITIES) {
    const u = cap.toUpperCase();
    flags[cap] = upper.some((c) => c === u || (u === 'APPENDLIMIT' && c.startsWith('APPENDLIMIT=')));
  }
  const limit = upper.find((c) => c.startsWith('APPENDLIMIT='));
  return {
    all: caps,
    flags,
    authMechanisms: upper.filter((c) => c.startsWith('AUTH=')).map((c) => c.slice(5)),
    appendLimit: limit ? Number(limit.slice('APPENDLIMIT='.length)) || null : null,
  };
}

export interface ServerKind {
  /** Product name, or "unknown". */
  name: string;
  /** What identified it: "greeting", "ID", "capability". */
  evidence: string[];
  /** Product-specific advice for a migration. */
  advice: string | null;
}

interface KindRule {
  name: string;
  greeting?: RegExp;
  id?: RegExp;
  capability?: RegExp;
  advice: string | null;
}

// Greeting and ID strings as these servers send them by default.
const KIND_RULES: KindRule[] = [
  { name: 'Gmail', greeting: /Gimap/i, id: /GImap|Gmail/i, capability: /^X-GM-EXT-1$/i,
    advice: 'Gmail shows labels as folders: one message with several labels is copied once per label. Exclude the [Gmail] folder (or [Google Mail]) and remove labels first, as seed 001 advises. Use an app password or OAuth.' },
  { name: 'Microsoft Exchange', greeting: /Microsoft Exchange|Exchange IMAP4/i, id: /Exchange/i,
    advice: 'Admin impersonation uses Domain/Admin/User as the user name and needs Full Access. Exchange 2007/2010 have low default IMAP connection limits; Exchange 2010 IMAP only speaks TLS 1.0 (seed 000).' },
  { name: 'Dovecot', greeting: /Dovecot/i, id: /Dovecot/i,
    advice: 'Admin impersonation uses a master user: user*master with master_user_separator = *, or SASL PLAIN with an authorization identity.' },
  { name: 'Courier-IMAP', greeting: /Courier-IMAP/i, id: /Courier/i, advice: 'Courier has no admin impersonation: use each user\'s credentials.' },
  { name: 'Cyrus IMAP', greeting: /Cyrus/i, id: /Cyrus/i, advice: 'Admin impersonation uses SASL PLAIN with the admin as authentication identity (an admins: entry in imapd.conf).' },
  { name: 'Zimbra', greeting: /Zimbra/i, id: /Zimbra/i, advice: 'Admin impersonation uses SASL PLAIN with an authorization identity (the admin needs the adminLoginAs right).' },
  { name: 'Yahoo Mail', greeting: /yahoo/i, id: /yahoo|ymail/i, advice: 'Yahoo requires an app password for IMAP.' },
  { name: 'iCloud Mail', greeting: /iCloud|me\.com/i, id: /iCloud/i, advice: 'iCloud requires an app-specific password.' },
  { name: 'Fastmail', greeting: /fastmail/i, id: /fastmail/i, advice: 'Fastmail requires an app password for IMAP.' },
  { name: 'HCL/IBM Domino', greeting: /Domino/i, id: /Domino/i, advice: null },
  { name: 'hMailServer', greeting: /hMailServer/i, id: /hMailServer/i, advice: null },
  { name: 'MDaemon', greeting: /MDaemon/i, id: /MDaemon/i, advice: null },
  { name: 'Kerio Connect', greeting: /Kerio/i, id: /Kerio/i, advice: null },
  { name: 'SmarterMail', greeting: /SmarterMail/i, id: /SmarterMail/i, advice: null },
  { name: 'IceWarp', greeting: /IceWarp|Merak/i, id: /IceWarp/i, advice: null },
  { name: 'Axigen', greeting: /Axigen/i, id: /Axigen/i, advice: null },
  { name: 'GroupWise', greeting: /GroupWise/i, id: /GroupWise/i, advice: null },
  { name: 'Stalwart', greeting: /Stalwart/i, id: /Stalwart/i, advice: null },
  { name: 'UW IMAP', greeting: /IMAP4rev1 \d{4}\.\d+|UW IMAP/i, id: /UW/i, advice: null },
];

export function detectServerKind(greeting: string, id: Record<string, string> | null, caps: string[]): ServerKind {
  const idText = id ? Object.values(id).join(' ') : '';
  for (const rule of KIND_RULES) {
    const evidence: string[] = [];
    if (rule.greeting?.test(greeting)) evidence.push('greeting');
    if (rule.id && idText && rule.id.test(idText)) evidence.push('ID');
    const cap = rule.capability;
    if (cap && caps.some((c) => cap.test(c))) evidence.push('capability');
    if (evidence.length > 0) return { name: rule.name, evidence, advice: rule.advice };
  }
  return { name: 'unknown', evidence: [], advice: null };
}

/** The ID response's field list → an object ("name" → "Dovecot"). */
export function idFields(values: unknown): Record<string, string> | null {
  if (!Array.isArray(values)) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < values.length; i += 2) {
    const k = values[i];
    const v = values[i + 1];
    if (typeof k === 'string') out[k.toLowerCase()] = typeof v === 'string' ? v : '';
  }
  return out;
}

/** What the capabilities mean for mailshift, as a source and as a target. */
export function migrationNotes(summary: CapabilitySummary, kind: ServerKind): DiagnoseNote[] {
  const f = summary.flags;
  const notes: DiagnoseNote[] = [];
  if (!f['IMAP4rev1'] && !f['IMAP4rev2']) {
    notes.push({ code: 'IMAP_NOT_REV1', severity: 'warn', appliesTo: 'both', message: 'The server does not announce IMAP4rev1: expect protocol surprises.' });
  }
  if (!f['CONDSTORE']) {
    notes.push({ code: 'IMAP_NO_CONDSTORE', severity: 'warn', appliesTo: 'source', message: 'No CONDSTORE: each incremental pass re-reads the flags of every message in every folder instead of only what changed (slower on large mailboxes).' });
  } else if (!f['QRESYNC']) {
    notes.push({ code: 'IMAP_NO_QRESYNC', severity: 'info', appliesTo: 'source', message: 'CONDSTORE without QRESYNC: changed flags are found quickly, but deletions need a UID list per folder.' });
  }
  if (!f['UIDPLUS']) {
    notes.push({ code: 'IMAP_NO_UIDPLUS', severity: 'warn', appliesTo: 'target', message: 'No UIDPLUS: as a target the server does not report the UID of each appended message, so mailshift finds copies by their headers (slower adoption and verification).' });
  }
  if (!f['LITERAL+'] && !f['LITERAL-']) {
    notes.push({ code: 'IMAP_NO_LITERAL_PLUS', severity: 'warn', appliesTo: 'target', message: 'No LITERAL+: as a target every APPEND waits one round trip for the server\'s "+" before sending the message (much slower writes over a high-latency link).' });
  }
  if (!f['MULTIAPPEND']) {
    notes.push({ code: 'IMAP_NO_MULTIAPPEND', severity: 'info', appliesTo: 'target', message: 'No MULTIAPPEND: as a target messages are appended one per command.' });
  }
  if (!f['SPECIAL-USE']) {
    notes.push({ code: 'IMAP_NO_SPECIAL_USE', severity: 'info', appliesTo: 'both', message: 'No SPECIAL-USE: Sent, Trash, Junk and Drafts are recognised by their names only; check the folder mapping.' });
  }
  if (f['X-GM-EXT-1'] || kind.name === 'Gmail') {
    notes.push({ code: 'IMAP_GMAIL_LABELS', severity: 'warn', appliesTo: 'source', message: 'Gmail: labels appear as folders, so a message with several labels would be copied several times. Exclude [Gmail]/[Google Mail] and consider removing labels first (seed 001, "I\'m seeing duplicate emails").' });
  }
  if (summary.appendLimit !== null) {
    notes.push({ code: 'IMAP_APPENDLIMIT', severity: 'info', appliesTo: 'target', message: `As a target the server refuses messages larger than ${summary.appendLimit} bytes (APPENDLIMIT).` });
  }
  if (f['COMPRESS=DEFLATE']) {
    notes.push({ code: 'IMAP_COMPRESS', severity: 'info', appliesTo: 'both', message: 'COMPRESS=DEFLATE is offered: across a slow link, turn it on with --source-compress/--target-compress (endpoints: --compress).' });
  }
  if (kind.advice) notes.push({ code: 'IMAP_SERVER_ADVICE', severity: 'info', appliesTo: 'both', message: `${kind.name}: ${kind.advice}` });
  return notes;
}
