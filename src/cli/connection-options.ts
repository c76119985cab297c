/** The --source-* / --target-* option families shared by migrate and verify, and --max-connections. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { MailshiftError } from '../domain/errors.js';
import { DEFAULT_MAX_CONNECTIONS } from '../engine/connection-budget.js';
import type { ConnectionSettings, SecurityMode } from '../domain/mail-types.js';
import { parsePort, parsePositiveInt } from './parse-values.js';
import { resolvePassword } from './secret-input.js';

export type Side = 'source' | 'target';

export function addConnectionOptions(command: Command, side: Side, options: { userRequired: boolean }): Command {
  const label = side === 'source' ? 'the server to copy from' : 'the server to copy to';
  command
    .option(`--${side}-host <host>`, `host name of ${label}`)
    .option(`--${side}-port <port>`, 'IMAP port (default 993 for ssl, 143 otherwise)')
    .option(`--${side}-security <mode>`, 'ssl (implicit TLS) | starttls | none', 'ssl')
    .option(`--${side}-user <user>`, `user name on ${label}${options.userRequired ? '' : ' (or from --users)'}; admin formats like user*admin are passed as they are`)
    .option(`--${side}-authzid <user>`, 'log in as --user (an admin) on behalf of this mailbox (SASL PLAIN authorization identity)')
    .option(`--${side}-password-file <file>`, `file whose first line is the password (else MAILSHIFT_${side.toUpperCase()}_PASSWORD, else a prompt)`)
    .option(`--${side}-ca <file>`, 'PEM file of a CA to trust for this server (certificate validation is always on)')
    .option(`--${side}-min-tls <version>`, 'lowest TLS version to accept (TLSv1.2 by default; lower only for legacy servers)')
    .option(`--${side}-timeout <seconds>`, 'connection timeout in seconds', '15')
    .option(`--${side}-compress`, 'use COMPRESS=DEFLATE when the server offers it (for slow links; costs CPU, off by default)');
  return command;
}

type Opts = Record<string, unknown>;

function str(opts: Opts, key: string): string | undefined {
  const value = opts[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

const camel = (side: Side, name: string): string => side + name.split('-').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');

export interface ConnectionBase {
  host: string;
  port: number;
  security: SecurityMode;
  ca?: string;
  minTlsVersion?: ConnectionSettings['minTlsVersion'];
  connectTimeoutMs: number;
  compress?: boolean;
}

export function connectionBase(opts: Opts, side: Side): ConnectionBase {
  const host = str(opts, camel(side, 'host'));
  if (!host) throw new MailshiftError('USAGE_INVALID_OPTION', { detail: `--${side}-host is required.` });
  const security = (str(opts, camel(side, 'security')) ?? 'ssl').toLowerCase();
  if (security !== 'ssl' && security !== 'starttls' && security !== 'none') {
    throw new MailshiftError('USAGE_INVALID_OPTION', { detail: `--${side}-security must be ssl, starttls or none, not "${security}".` });
  }
  const portText = str(opts, camel(side, 'port'));
  const port = portText ? parsePort(portText, `--${side}-port`) : security === 'ssl' ? 993 : 143;
  const caFile = str(opts, camel(side, 'ca'));
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new MailshiftError('USAGE_FILE_UNREADABLE', { path: caFile, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new MailshiftError('USAGE_INVALID_OPTION', { detail: `--${side}-ca: ${caFile} contains no PEM certificate.` });
  }
  const minTls = str(opts, camel(side, 'min-tls'));
  if (minTls && !['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'].includes(minTls)) {
    throw new MailshiftError('USAGE_INVALID_OPTION', { detail: `--${side}-min-tls must be TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3.` });
  }
  const timeout = parsePositiveInt(str(opts, camel(side, 'timeout')) ?? '15', `--${side}-timeout`, 3600);
  return {
    host, port, security,
    ...(ca ? { ca } : {}),
    ...(minTls ? { minTlsVersion: minTls as ConnectionSettings['minTlsVersion'] } : {}),
    connectTimeoutMs: timeout * 1000,
    ...(opts[camel(side, 'compress')] === true ? { compress: true } : {}),
  };
}

/** Settings for one account; `user`/`password` given explicitly come from a users CSV. */
export async function connectionSettings(opts: Opts, side: Side, account?: { user: string; password: string; authzid?: string; userRoot?: string }): Promise<ConnectionSettings> {
  const base = connectionBase(opts, side);
  const user = account?.user ?? str(opts, camel(side, 'user'));
  if (!user) throw new MailshiftError('USAGE_INVALID_OPTION', { detail: `--${side}-user is required.` });
  const password = account?.password ?? await resolvePassword(side, user, str(opts, camel(side, 'password-file')), process.env);
  const authzid = account?.authzid ?? str(opts, camel(side, 'authzid'));
  return {
    ...base, user, password,
    ...(authzid ? { authzid } : {}),
    ...(account?.userRoot ? { userRoot: account.userRoot } : {}),
  };
}

/** `--max-connections` (migrate, serve, batch run): what a process's ConnectionBudget allows per server. */
export function addMaxConnectionsOption(command: Command): Command {
  return command.option('--max-connections <n>', 'connections to each server at once, over all mailboxes copied at once: each mailbox needs 2, each further folder worker 2 more while this allows', String(DEFAULT_MAX_CONNECTIONS));
}

export function maxConnectionsFrom(opts: Opts): number {
  return parsePositiveInt(String(opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS), '--max-connections', 10_000);
}
