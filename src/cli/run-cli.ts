import { Command } from 'commander';
import { reportFailure } from './cli-output.js';

export type RegisterCommand = (program: Command) => void;

/** Commander settings are not inherited by commands added with addCommand(): apply them everywhere. */
function applyToAll(command: Command): void {
  command.exitOverride().showHelpAfterError('(run with --help for usage)');
  for (const sub of command.commands) applyToAll(sub);
}

export function buildProgram(commands: readonly RegisterCommand[]): Command {
  const program = new Command('mailshift')
    .description('Self-hosted IMAP mailbox migration: every folder, message, flag and date, exactly once, resumable and verified.')
    .version('0.1.0');
  for (const register of commands) register(program);
  applyToAll(program);
  return program;
}

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/**
 * Runs a program made of `commands`. A program with one command is what bin/mailshift.js starts for
 * `mailshift <command> …`, so a migration does not load (or hold in memory) the web server, the
 * mailer and the other commands.
 */
export async function runCli(argv: string[], commands: readonly RegisterCommand[]): Promise<void> {
  const program = buildProgram(commands);
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
