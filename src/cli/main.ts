import { registerBatchCommand } from './commands/batch-command.js';
import { registerDiagnoseCommand } from './commands/diagnose-command.js';
import { registerEndpointCommand } from './commands/endpoint-command.js';
import { registerMigrateCommand } from './commands/migrate-command.js';
import { registerServeCommand } from './commands/serve-command.js';
import { registerVerifyCommand } from './commands/verify-command.js';
import { runCli, type RegisterCommand } from './run-cli.js';

const ALL_COMMANDS: readonly RegisterCommand[] = [
  registerMigrateCommand,
  registerVerifyCommand,
  registerDiagnoseCommand,
  registerEndpointCommand,
  registerBatchCommand,
  registerServeCommand,
];

/** The whole CLI: what `mailshift --help` lists. bin/mailshift.js also builds one bundle per command. */
export async function main(argv: string[]): Promise<void> {
  await runCli(argv, ALL_COMMANDS);
}
