/**
 * Renderers of the batch report: the CSV error report (download and mail attachment), the JSON of
 * `batch report --format json`, and the CLI's `batch users` table and `batch show` summary.
 * Pure functions of a BatchReport; times are shown in UTC so every reader sees the same text.
 */
import { formatBytes as formatBytesHuman } from '../domain/format.js';
import {
  type BatchReport,
  type UserReportRow,
  countUsersByStatus,
  percentSynced,
  skipKindLabel,
  skipKindRemediation,
  userHasError,
  usersWithWarnings,
} from './batch-report-model.js';

// ---------------------------------------------------------------------------------------------
// Formatting helpers (exported for the mail, which shows the same values)

/** `2026-11-23 08:26:08 UTC`-style without the zone suffix: a format Excel reads as a date. */
export function formatUtc(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function formatMegabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}

export { formatBytesHuman };

export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h ${String(m).padStart(2, '0')}m`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180, Excel-friendly)

/** Column order of the CSV error report (docs/notifications.md describes each column). */
export const CSV_COLUMNS = [
  'Record',
  'EmailAddress',
  'Status',
  'ItemsSynced',
  'ItemsSkipped',
  'BytesSynced',
  'LastSyncUtc',
  'ErrorCode',
  'Error',
  'Remediation',
  'Folder',
  'MessageDateUtc',
  'Subject',
  'MessageSize',
  'SkipReason',
] as const;

type CsvColumn = (typeof CSV_COLUMNS)[number];
type CsvRecord = Partial<Record<CsvColumn, string | number>>;

/**
 * One RFC 4180 field. Text that a spreadsheet would run as a formula (a subject such as
 * `=HYPERLINK(...)` is chosen by whoever sent the mail) gets a leading apostrophe, the usual
 * defence against CSV injection; numbers are written as they are.
 */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  let text = value;
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(record: CsvRecord): string {
  return CSV_COLUMNS.map((c) => csvField(record[c])).join(',');
}

function userRecord(u: UserReportRow): CsvRecord {
  return {
    Record: 'user',
    EmailAddress: u.emailAddress,
    Status: u.status,
    ItemsSynced: u.itemsSynced,
    ItemsSkipped: u.itemsSkipped,
    BytesSynced: u.bytesSynced,
    LastSyncUtc: formatUtc(u.lastSyncAt),
    ErrorCode: u.error?.code ?? '',
    Error: u.error?.message ?? '',
    Remediation: u.error?.remediation ?? '',
  };
}

/**
 * The CSV error report: a UTF-8 BOM (so Excel reads accents and non-Latin subjects correctly), one
 * header row, one `user` row per mailbox (status, counts, the error and what to do about it), each
 * followed by a `warning` row per warning of its last sync (the text in Error), then one
 * `skipped-item` row per message that was not copied (folder, date, subject, size, reason and what
 * to do). CRLF line ends, as RFC 4180 asks.
 */
export function renderBatchReportCsv(report: BatchReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const u of report.users) {
    lines.push(csvLine(userRecord(u)));
    for (const w of u.warnings) lines.push(csvLine({ Record: 'warning', EmailAddress: u.emailAddress, Error: w }));
  }
  for (const s of report.skippedItems) {
    lines.push(
      csvLine({
        Record: 'skipped-item',
        EmailAddress: s.emailAddress,
        Error: skipKindLabel(s.kind),
        Remediation: skipKindRemediation(s.kind),
        Folder: s.folder,
        MessageDateUtc: formatUtc(s.date),
        Subject: s.subject ?? '',
        MessageSize: s.size,
        SkipReason: s.kind,
      }),
    );
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * `batch report --format json`: the report as it is (times in epoch ms, like the API), plus the
 * derived summary the CLI shows, so scripts need not recompute it.
 */
export function renderBatchReportJson(report: BatchReport): string {
  const summary = {
    percentSynced: percentSynced(report),
    usersByStatus: Object.fromEntries(countUsersByStatus(report)),
    usersWithErrors: report.users.filter(userHasError).length,
    durationMs: report.batch.startedAt !== null && report.batch.completedAt !== null ? report.batch.completedAt - report.batch.startedAt : null,
  };
  return `${JSON.stringify({ batch: report.batch, summary, users: report.users, skippedItems: report.skippedItems }, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// CLI table (`batch users`)

/** A plain-text table: numbers right-aligned, cells on one line. */
export function renderTable(headers: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, ' ');
  const cells = [headers, ...rows].map((r) => r.map(oneLine));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(cells[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * The per-user status report (the seeds' "E-mail Migration Per-User Status Report"): user, status,
 * Items Synced, Items Skipped, MB, last sync, error; then, for each user with an error, the whole
 * message and what to do, and the warnings of each user's last sync.
 */
export function renderUsersTable(report: BatchReport): string {
  if (report.users.length === 0) return `Batch "${report.batch.name}" has no users.`;
  const rows = report.users.map((u) => [
    u.emailAddress,
    u.status,
    formatCount(u.itemsSynced),
    formatCount(u.itemsSkipped),
    formatMegabytes(u.bytesSynced),
    u.lastSyncAt === null ? '-' : `${formatUtc(u.lastSyncAt).slice(0, 16)} UTC`,
    u.error ? truncate(`${u.error.code}: ${u.error.message}`, 60) : '',
  ]);
  const out = [renderTable(['User', 'Status', 'Items Synced', 'Items Skipped', 'MB', 'Last sync', 'Error'], rows, new Set([2, 3, 4]))];
  const failing = report.users.filter((u) => u.error !== null);
  if (failing.length > 0) {
    out.push('', 'Errors:');
    for (const u of failing) {
      out.push(`  ${u.emailAddress} (${u.error!.code}): ${u.error!.message}`);
      if (u.error!.remediation) out.push(`    What to do: ${u.error!.remediation}`);
    }
  }
  const warned = usersWithWarnings(report);
  if (warned.length > 0) {
    out.push('', 'Warnings of the last sync:');
    for (const u of warned) for (const w of u.warnings) out.push(`  ${u.emailAddress}: ${w}`);
  }
  if (report.skippedItems.length > 0) {
    out.push('', `${formatCount(report.skippedItems.length)} item(s) were skipped; \`batch report --format csv\` lists each with its folder, date, subject and reason.`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// CLI summary (`batch show`)

export function renderBatchSummary(report: BatchReport): string {
  const b = report.batch;
  const t = b.totals;
  const lines: string[] = [];
  const label = (name: string, value: string) => lines.push(`  ${name.padEnd(16)}${value}`);
  lines.push(`Batch "${b.name}": ${b.source} -> ${b.target}`);
  label('Status', b.status);
  label('Users', `${formatCount(t.users)} total, ${formatCount(t.synced)} synced (${percentSynced(report).toFixed(1)}%), ${formatCount(t.failed)} failed`);
  const byStatus = countUsersByStatus(report);
  if (byStatus.length > 0) label('By status', byStatus.map(([s, n]) => `${s} ${formatCount(n)}`).join(', '));
  label('Items synced', `${formatCount(t.itemsSynced)} (${formatBytesHuman(t.bytesSynced)})`);
  label('Items skipped', t.itemsSkipped === 0 ? '0' : `${formatCount(t.itemsSkipped)} (listed with their reason in \`batch report\`)`);
  label('Created', `${formatUtc(b.createdAt)} UTC`);
  label('Started', b.startedAt === null ? 'not yet' : `${formatUtc(b.startedAt)} UTC`);
  if (b.completedAt !== null) label('Finished', `${formatUtc(b.completedAt)} UTC`);
  if (b.startedAt !== null) {
    const end = b.completedAt;
    if (end !== null) label('Duration', formatElapsed(end - b.startedAt));
  }
  const warned = usersWithWarnings(report).length;
  if (warned > 0) label('Users warned', `${formatCount(warned)} (what their last sync warned about: \`batch users\`)`);
  for (const w of b.warnings) lines.push(`  Warning: ${w}`);
  return lines.join('\n');
}
