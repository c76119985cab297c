import { Command } from 'commander';
import { registerMigrateCommand } from './commands/migrate-command.js';
import { registerVerifyCommand } from './commands/verify-command.js';
import { reportFailure } from './cli-output.js';

export function buildProgram(): Command {
  const program = new Command('mailshift')
    .description('Self-hosted IMAP mailbox migration: every folder, message, flag and date, exactly once, resumable and verified.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerMigrateCommand(program);
  registerVerifyCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    const { registerDiagnoseCommand } = await import('./commands/diagnose-command.js').catch(() => ({ registerDiagnoseCommand: null }));
    registerDiagnoseCommand?.(program);
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // Commander already printed help, version, or the usage error.
      const exitCode = (err as { exitCode?: number }).exitCode ?? 2;
      process.exitCode = code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help' ? 0 : exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportFailure(err, argv.includes('--json'));
  }
}
