import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BatchReport } from '../src/report/batch-report-model.ts';
import { batchHasErrors, percentSynced } from '../src/report/batch-report-model.ts';
import {
  CSV_COLUMNS,
  csvField,
  renderBatchReportCsv,
  renderBatchReportJson,
  renderBatchSummary,
  renderUsersTable,
} from '../src/report/render-batch-report.ts';

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

export function sampleReport(overrides: Partial<BatchReport['batch']> = {}): BatchReport {
  return {
    batch: {
      name: 'Sales, Zürich "Q4"',
      status: 'SyncedWithErrors',
      source: 'old-dovecot',
      target: 'new-imap',
      createdAt: T0,
      startedAt: T0 + 60_000,
      completedAt: T0 + 60_000 + 3_723_000,
      totals: { users: 3, synced: 2, failed: 1, itemsSynced: 1530, itemsSkipped: 3, bytesSynced: 157_286_400 },
      warnings: ['The source endpoint old-dovecot accepts untrusted certificates (AcceptUntrustedCertificates).'],
      ...overrides,
    },
    users: [
      { emailAddress: 'alice@contoso.com', status: 'Synced', itemsSynced: 1200, itemsSkipped: 2, bytesSynced: 104_857_600, lastSyncAt: T0 + 3_000_000, error: null, warnings: ['Both "Sent" and "Sent Items" map to "Sent Items"; "Sent Items" goes to "Sent Items (1)" instead.'] },
      { emailAddress: 'bob@contoso.com', status: 'Synced', itemsSynced: 330, itemsSkipped: 1, bytesSynced: 52_428_800, lastSyncAt: T0 + 3_600_000, error: null, warnings: [] },
      {
        emailAddress: 'carol@contoso.com', status: 'Failed', itemsSynced: 0, itemsSkipped: 0, bytesSynced: 0, lastSyncAt: null,
        error: {
          code: 'AUTH_FAILED',
          message: "We had trouble signing in to this account. Confirm that you're using the correct user name and password.",
          remediation: 'Check the user name and password for carol on imap.contoso.com.',
        },
        warnings: [],
      },
    ],
    skippedItems: [
      { emailAddress: 'alice@contoso.com', folder: 'INBOX', date: Date.UTC(2019, 0, 2, 3, 4, 5), subject: 'Invoice, "final"\r\nversion', size: 48_000_000, kind: 'too-large' },
      { emailAddress: 'alice@contoso.com', folder: 'Archive/2018', date: Date.UTC(2018, 5, 1), subject: '=HYPERLINK("http://evil.example","click")', size: 1200, kind: 'target-rejected' },
      { emailAddress: 'bob@contoso.com', folder: 'Sent', date: Date.UTC(2017, 1, 1), subject: null, size: 900, kind: 'item-limit' },
    ],
  };
}

/** A small RFC 4180 parser, to check the CSV the way a spreadsheet reads it. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; }
    else field += c;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

describe('renderBatchReportCsv', () => {
  const csv = renderBatchReportCsv(sampleReport());

  it('starts with a UTF-8 BOM and a header row, and uses CRLF line ends', () => {
    assert.ok(csv.startsWith('\uFEFFRecord,EmailAddress,Status,'));
    assert.ok(csv.endsWith('\r\n'));
    assert.doesNotMatch(csv.replace(/"[^"]*(?:""[^"]*)*"/g, ''), /[^\r]\n/, 'every unquoted line end is CRLF');
  });

  it('has one row per user, each followed by its warnings, then one per skipped item, every row with all columns', () => {
    const rows = parseCsv(csv.slice(1));
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    assert.equal(rows.length, 1 + 3 + 1 + 3);
    for (const r of rows) assert.equal(r.length, CSV_COLUMNS.length);
    assert.deepEqual(rows.slice(1).map((r) => r[0]), ['user', 'warning', 'user', 'user', 'skipped-item', 'skipped-item', 'skipped-item']);
    const warning = rows[2]!;
    assert.equal(warning[CSV_COLUMNS.indexOf('EmailAddress')], 'alice@contoso.com');
    assert.equal(warning[CSV_COLUMNS.indexOf('Error')], 'Both "Sent" and "Sent Items" map to "Sent Items"; "Sent Items" goes to "Sent Items (1)" instead.');
  });

  it('quotes commas, quotes and line breaks in subjects (RFC 4180) so they round-trip', () => {
    const rows = parseCsv(csv.slice(1));
    const col = (name: string) => CSV_COLUMNS.indexOf(name as (typeof CSV_COLUMNS)[number]);
    const skipped = rows.filter((r) => r[0] === 'skipped-item');
    assert.equal(skipped[0]![col('Subject')], 'Invoice, "final"\r\nversion');
    assert.ok(csv.includes('"Invoice, ""final""\r\nversion"'));
    assert.equal(skipped[0]![col('Folder')], 'INBOX');
    assert.equal(skipped[0]![col('MessageDateUtc')], '2019-01-02 03:04:05');
    assert.equal(skipped[0]![col('MessageSize')], '48000000');
    assert.equal(skipped[0]![col('SkipReason')], 'too-large');
    assert.equal(skipped[2]![col('Subject')], '');
  });

  it('neutralises subjects a spreadsheet would run as formulas', () => {
    const rows = parseCsv(csv.slice(1));
    const subject = rows.find((r) => r[CSV_COLUMNS.indexOf('Folder')] === 'Archive/2018')![CSV_COLUMNS.indexOf('Subject')]!;
    assert.equal(subject, `'=HYPERLINK("http://evil.example","click")`);
    assert.equal(csvField('-1'), "'-1");
    assert.equal(csvField(-1), '-1', 'numbers are written as they are');
  });

  it("gives each error's code, message and remediation, and a remediation for each skipped item", () => {
    const rows = parseCsv(csv.slice(1));
    const carol = rows.find((r) => r[1] === 'carol@contoso.com')!;
    assert.equal(carol[CSV_COLUMNS.indexOf('ErrorCode')], 'AUTH_FAILED');
    assert.match(carol[CSV_COLUMNS.indexOf('Error')]!, /We had trouble signing in/);
    assert.equal(carol[CSV_COLUMNS.indexOf('Remediation')], 'Check the user name and password for carol on imap.contoso.com.');
    for (const r of rows.filter((x) => x[0] === 'skipped-item')) assert.ok(r[CSV_COLUMNS.indexOf('Remediation')]!.length > 10, r.join(','));
    const alice = rows.find((r) => r[1] === 'alice@contoso.com' && r[0] === 'user')!;
    assert.deepEqual(alice.slice(2, 7), ['Synced', '1200', '2', '104857600', '2026-11-20 09:50:00']);
  });

  it('is only a header for an empty batch', () => {
    const empty = renderBatchReportCsv({ ...sampleReport(), users: [], skippedItems: [] });
    assert.equal(empty, `\uFEFF${CSV_COLUMNS.join(',')}\r\n`);
  });
});

describe('renderBatchReportJson', () => {
  it('is the report plus a derived summary, and parses back', () => {
    const report = sampleReport();
    const parsed = JSON.parse(renderBatchReportJson(report));
    assert.deepEqual(parsed.batch, report.batch);
    assert.deepEqual(parsed.users, report.users);
    assert.deepEqual(parsed.skippedItems, report.skippedItems);
    assert.deepEqual(parsed.summary, { percentSynced: 66.7, usersByStatus: { Synced: 2, Failed: 1 }, usersWithErrors: 1, durationMs: 3_723_000 });
  });
});

describe('renderUsersTable', () => {
  it('shows user, status, Items Synced, Items Skipped, MB, last sync and error, then what to do', () => {
    const out = renderUsersTable(sampleReport());
    const lines = out.split('\n');
    assert.match(lines[0]!, /^User\s+Status\s+Items Synced\s+Items Skipped\s+MB\s+Last sync\s+Error$/);
    assert.match(out, /alice@contoso\.com\s+Synced\s+1,200\s+2\s+100\.0\s+2026-11-20 09:50 UTC/);
    assert.match(out, /carol@contoso\.com\s+Failed\s+0\s+0\s+0\.0\s+-\s+AUTH_FAILED: We had trouble/);
    assert.match(out, /What to do: Check the user name and password for carol/);
    assert.match(out, /3 item\(s\) were skipped/);
    assert.match(out, /Warnings of the last sync:\n  alice@contoso\.com: Both "Sent" and "Sent Items" map to "Sent Items"/);
    assert.doesNotMatch(out, /bob@contoso\.com: /, 'a user without warnings is not listed under them');
    // right-aligned numbers: the MB column ends at the same position in every row
    const ends = lines.slice(2, 5).map((l) => l.search(/\d+\.\d(?=\s{2})/) + (/\d+\.\d(?=\s{2})/.exec(l)?.[0].length ?? 0));
    assert.equal(new Set(ends).size, 1, lines.join('\n'));
  });

  it('keeps a subject-like newline in an error on one line', () => {
    const r = sampleReport();
    r.users[2]!.error!.message = 'line one\nline two';
    assert.ok(renderUsersTable(r).split('\n').some((l) => /carol.*line one line two/.test(l)));
  });

  it('says so when the batch has no users', () => {
    assert.equal(renderUsersTable({ ...sampleReport(), users: [] }), 'Batch "Sales, Zürich "Q4"" has no users.');
  });
});

describe('renderBatchSummary', () => {
  it('shows status, totals, % synced, counts per status, timings and warnings', () => {
    const out = renderBatchSummary(sampleReport());
    assert.match(out, /^Batch "Sales, Zürich "Q4"": old-dovecot -> new-imap/);
    assert.match(out, /Status\s+SyncedWithErrors/);
    assert.match(out, /Users\s+3 total, 2 synced \(66\.7%\), 1 failed/);
    assert.match(out, /By status\s+Synced 2, Failed 1/);
    assert.match(out, /Items synced\s+1,530 \(150\.0 MB\)/);
    assert.match(out, /Items skipped\s+3 \(listed/);
    assert.match(out, /Started\s+2026-11-20 09:01:00 UTC/);
    assert.match(out, /Duration\s+1h 02m/);
    assert.match(out, /Warning: The source endpoint old-dovecot accepts untrusted certificates/);
    assert.match(out, /Users warned\s+1 \(what their last sync warned about: `batch users`\)/);
  });

  it('handles a batch that has not started', () => {
    const out = renderBatchSummary({ ...sampleReport({ status: 'Created', startedAt: null, completedAt: null, totals: { users: 0, synced: 0, failed: 0, itemsSynced: 0, itemsSkipped: 0, bytesSynced: 0 } }), users: [], skippedItems: [] });
    assert.match(out, /Started\s+not yet/);
    assert.match(out, /0 synced \(0\.0%\)/);
    assert.doesNotMatch(out, /Duration|NaN|undefined/);
  });
});

describe('batch report model', () => {
  it('counts a batch with a failed user, a user error or an error status as "with errors"', () => {
    assert.equal(batchHasErrors(sampleReport()), true);
    const clean = sampleReport({ status: 'Synced', totals: { users: 2, synced: 2, failed: 0, itemsSynced: 1, itemsSkipped: 0, bytesSynced: 1 } });
    clean.users = clean.users.slice(0, 2);
    assert.equal(batchHasErrors(clean), false, 'skipped items alone are not errors');
    assert.equal(batchHasErrors({ ...clean, batch: { ...clean.batch, status: 'CompletedWithErrors' } }), true);
    const erroredButSynced = structuredClone(clean);
    erroredButSynced.users[0]!.error = { code: 'TARGET_OVERQUOTA', message: 'This mailbox is full.', remediation: 'Raise the quota.' };
    assert.equal(batchHasErrors(erroredButSynced), true);
    assert.equal(percentSynced(clean), 100);
  });
});
