import { Command } from 'commander';
import { registerBatchCommand } from './commands/batch-command.js';
import { registerDiagnoseCommand } from './commands/diagnose-command.js';
import { registerEndpointCommand } from './commands/endpoint-command.js';
import { registerMigrateCommand } from './commands/migrate-command.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerVerifyCommand } from './commands/verify-command.js';
import { reportFailure } from './cli-output.js';

/** Commander settings are not inherited by commands added with addCommand(): apply them everywhere. */
function applyToAll(command: Command): void {
  command.exitOverride().showHelpAfterError('(run with --help for usage)');
  for (const sub of command.commands) applyToAll(sub);
}

export function buildProgram(): Command {
  const program = new Command('mailshift')
    .description('Self-hosted IMAP mailbox migration: every folder, message, flag and date, exactly once, resumable and verified.')
    .version('0.1.0');
  registerMigrateCommand(program);
  registerVerifyCommand(program);
  registerDiagnoseCommand(program);
  registerEndpointCommand(program);
  registerBatchCommand(program);
  registerServeCommand(program);
  applyToAll(program);
  return program;
}

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // Commander already printed the help, the version, or what was wrong with the command line.
      process.exitCode = HELP_CODES.has(code) ? 0 : 2;
      return;
    }
    process.exitCode = reportFailure(err, argv.includes('--json'));
  }
}
