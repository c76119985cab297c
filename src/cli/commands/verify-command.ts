import { Command } from 'commander';
import { EXIT_CODES } from '../../domain/errors.js';
import { planFolders } from '../../engine/folder-mapping.js';
import type { VerifyResult } from '../../engine/migration-report.js';
import { verifyMailbox } from '../../engine/verify.js';
import { openMailStore } from '../../imap/imapflow-mail-store.js';
import type { MailStore } from '../../engine/ports.js';
import { addConnectionOptions, connectionSettings } from '../connection-options.js';
import { reportFailure } from '../cli-output.js';
import { parseDate, parseSize } from '../parse-values.js';
import { addFolderRuleOptions, folderRulesFrom } from './migrate-command.js';

type Opts = Record<string, unknown>;

export function renderVerify(result: VerifyResult): string {
  const lines = ['Folder'.padEnd(36) + 'Expected'.padStart(9) + 'Found'.padStart(8) + 'Missing'.padStart(9) + 'Dup'.padStart(6) + 'Extra'.padStart(7) + 'Flags'.padStart(7) + 'Dates'.padStart(7)];
  for (const f of result.folders) {
    lines.push(`${`${f.sourcePath}${f.targetPath !== f.sourcePath ? ` -> ${f.targetPath}` : ''}`.slice(0, 35).padEnd(36)}${String(f.expected).padStart(9)}${String(f.found).padStart(8)}${String(f.missing).padStart(9)}${String(f.duplicated).padStart(6)}${String(f.extra).padStart(7)}${String(f.flagMismatches).padStart(7)}${String(f.dateMismatches).padStart(7)}`);
    for (const ex of f.examples) lines.push(`    ${ex}`);
  }
  lines.push(result.consistent
    ? `Consistent: all ${result.expected} source messages are on the target exactly once, with the same flags and dates${result.extra ? ` (the target also has ${result.extra} other messages)` : ''}.`
    : `NOT consistent: ${result.missing} missing, ${result.duplicated} duplicated, ${result.flagMismatches} flag and ${result.dateMismatches} date mismatches. Run mailshift migrate again to copy what is missing.`);
  return lines.join('\n');
}

export function registerVerifyCommand(program: Command): void {
  const command = new Command('verify')
    .description('Compare source and target folder by folder, by content: missing, duplicated, extra messages, flag and date mismatches. Exit 0 only when consistent.');
  addConnectionOptions(command, 'source', { userRequired: true });
  addConnectionOptions(command, 'target', { userRequired: true });
  addFolderRuleOptions(command)
    .option('--since <YYYY-MM-DD>', 'expect only messages on or after this date')
    .option('--max-message-size <size>', 'expect larger messages to be absent', '35MB')
    .option('--deep', 'compare full message bytes (SHA-256) instead of header section and size')
    .option('--json', 'print the result as JSON')
    .action(async (opts: Opts) => {
      const json = opts.json === true;
      let source: MailStore | null = null;
      let target: MailStore | null = null;
      try {
        const sourceSettings = await connectionSettings(opts, 'source');
        const targetSettings = await connectionSettings(opts, 'target');
        const since = typeof opts.since === 'string' ? parseDate(opts.since, '--since') : null;
        const maxMessageSize = parseSize(String(opts.maxMessageSize ?? '35MB'), '--max-message-size');
        const rules = folderRulesFrom(opts);
        source = await openMailStore(sourceSettings, { side: 'source' });
        target = await openMailStore(targetSettings, { side: 'target' });
        const [sf, tf] = await Promise.all([source.listFolders(), target.listFolders()]);
        const plan = planFolders(
          { folders: sf, delimiter: source.delimiter, namespacePrefix: source.namespacePrefix },
          { folders: tf, delimiter: target.delimiter, namespacePrefix: target.namespacePrefix },
          rules,
        );
        const result = await verifyMailbox(source, target, plan.folders, { deep: opts.deep === true, since, maxMessageSize });
        process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `${renderVerify(result)}\n`);
        process.exitCode = result.consistent ? EXIT_CODES.success : EXIT_CODES.verify;
      } catch (err) {
        process.exitCode = reportFailure(err, json);
      } finally {
        await source?.close().catch(() => undefined);
        await target?.close().catch(() => undefined);
      }
    });
  program.addCommand(command);
}
