/** The end-of-run summary: like imapsync's, but it says what happened in words an admin can act on. */
import type { MigrationReport } from '../engine/migration-report.js';
import { formatBytes, formatDuration } from './parse-values.js';

const REASONS: Record<string, string> = {
  'too-large': 'larger than the maximum message size',
  'item-limit': 'over the per-mailbox item limit',
  'target-rejected': 'refused by the target',
  'before-start-date': 'older than --since',
};

export function renderSummary(report: MigrationReport): string {
  const t = report.totals;
  const seconds = Math.max(0.001, (report.finishedAt - report.startedAt) / 1000);
  const rate = t.transferred / seconds;
  const lines: string[] = [];
  const title = report.dryRun ? 'Dry run (nothing was changed)' : 'Migration';
  lines.push(`${title}: ${report.source} -> ${report.target}`);
  lines.push(`  Status            ${report.status}`);
  lines.push(`  Folders           ${t.folders} ${report.dryRun ? 'examined' : 'synced'}, ${t.foldersCreated} ${report.dryRun ? 'to create' : 'created'} on the target${report.excludedFolders.length ? `, ${report.excludedFolders.length} excluded (${report.excludedFolders.map((e) => e.sourcePath).join(', ')})` : ''}`);
  lines.push(`  Source messages   ${t.sourceMessages}`);
  lines.push(`  ${report.dryRun ? 'Would transfer  ' : 'Transferred     '}  ${t.transferred} (${formatBytes(t.bytes)}) in ${formatDuration(seconds * 1000)}, ${rate.toFixed(1)} msg/s, ${formatBytes(t.bytes / seconds)}/s`);
  lines.push(`  Already present   ${t.alreadyPresent}${t.adopted ? ` (${t.adopted} found on the target and adopted, not copied again)` : ''}`);
  const reasons = Object.entries(t.skippedByReason).map(([r, n]) => `${n} ${REASONS[r] ?? r}`);
  lines.push(`  Skipped           ${reasons.length ? reasons.join('; ') : 'none'}`);
  lines.push(`  Flags updated     ${t.flagsUpdated}${t.keywordsDropped ? ` (${t.keywordsDropped} keyword(s) the target does not accept were dropped)` : ''}`);
  if (t.retries) lines.push(`  Reconnects        ${t.retries}`);
  if (report.dryRun) {
    // What a real run would do, folder by folder.
    for (const f of report.folders) {
      if (f.transferred === 0 && f.adopted === 0 && f.skipped === 0) continue;
      const parts = [`${f.transferred} to copy (${formatBytes(f.bytes)})`];
      if (f.adopted) parts.push(`${f.adopted} already on the target`);
      if (f.skipped) parts.push(`${f.skipped} skipped`);
      lines.push(`    ${f.sourcePath}${f.targetPath !== f.sourcePath ? ` -> ${f.targetPath}` : ''}: ${parts.join(', ')}`);
    }
  }
  for (const item of report.skippedItems.slice(0, 10)) {
    lines.push(`    skipped: ${item.folder} uid ${item.uid}, ${new Date(item.date).toISOString().slice(0, 10)}, "${item.subject ?? ''}", ${formatBytes(item.size)} — ${REASONS[item.reason] ?? item.reason}`);
  }
  if (report.skippedItems.length > 10) lines.push(`    … and ${report.skippedItems.length - 10} more (see --json)`);
  for (const w of report.warnings) lines.push(`  Warning: ${w}`);
  if (report.errors.length === 0) {
    lines.push('  Errors            none');
  } else {
    for (const e of report.errors) {
      lines.push(`  Error ${e.code}${e.folder ? ` (${e.folder})` : ''}: ${e.message}`);
      lines.push(`    What to do: ${e.remediation}`);
    }
  }
  const v = report.verification;
  if (v) {
    if (v.consistent) {
      lines.push(`  Verification      All ${v.expected} source messages are on the target${v.extra ? ` (the target also has ${v.extra} other messages)` : ''}.`);
    } else {
      lines.push(`  Verification      FAILED: ${v.missing} missing, ${v.duplicated} duplicated, ${v.flagMismatches} flag and ${v.dateMismatches} date mismatches`);
      for (const f of v.folders) for (const ex of f.examples) lines.push(`    ${f.sourcePath}: ${ex}`);
    }
  }
  return lines.join('\n');
}
