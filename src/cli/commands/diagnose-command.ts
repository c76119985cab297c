/**
 * `mailshift diagnose HOST[:PORT]`: the IMAP migration troubleshooter, automated (issue 4).
 * Prints one line per step and the first failure's cause and fix (or the report as JSON), and
 * exits with the failing layer: 0 ok, 2 usage, 3 DNS/TCP/connection, 4 TLS, 5 login.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { EXIT_CODES } from '../../domain/errors.ts';
import type { SecurityMode } from '../../domain/mail-types.ts';
import { DEFAULT_TIMEOUT_MS, runDiagnose } from '../../diagnose/diagnose-probe.ts';
import type { DiagnoseOptions, DiagnoseReport, TlsVersionName } from '../../diagnose/diagnose-types.ts';
import { formatReport } from '../../diagnose/report-format.ts';

export interface DiagnoseCliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  setExitCode: (code: number) => void;
  /** The probe; tests may substitute it. */
  run: (options: DiagnoseOptions) => Promise<DiagnoseReport>;
}

export class DiagnoseUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiagnoseUsageError';
  }
}

const SECURITY_MODES: readonly SecurityMode[] = ['ssl', 'starttls', 'none'];

/** "host", "host:993", "[::1]:993", "::1" → host and optional port. */
export function parseTarget(spec: string): { host: string; port: number | null } {
  const trimmed = spec.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  let host: string;
  let port: string | undefined;
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2];
  } else if ((trimmed.match(/:/g) ?? []).length > 1) {
    host = trimmed; // bare IPv6 literal without a port
  } else {
    const at = trimmed.lastIndexOf(':');
    host = at >= 0 ? trimmed.slice(0, at) : trimmed;
    port = at >= 0 ? trimmed.slice(at + 1) : undefined;
  }
  if (!host || /\s/.test(host)) throw new DiagnoseUsageError(`"${spec}" is not HOST or HOST:PORT.`);
  if (port === undefined) return { host, port: null };
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new DiagnoseUsageError(`"${port}" is not a port number (1-65535).`);
  return { host, port: Number(port) };
}

/** Port and security from what was given: 993 implies ssl, 143 starttls; ssl implies 993. */
export function resolveEndpoint(port: number | null, security: SecurityMode | undefined): { port: number; security: SecurityMode } {
  if (port !== null) return { port, security: security ?? (port === 143 ? 'starttls' : 'ssl') };
  const s = security ?? 'ssl';
  return { port: s === 'ssl' ? 993 : 143, security: s };
}

/** "15s", "500ms", "2m", "15" (seconds) → milliseconds. */
export function parseTimeout(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/i.exec(value);
  if (!m) throw new DiagnoseUsageError(`--timeout: "${value}" is not a duration (examples: 15s, 500ms, 1m).`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms = unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000;
  if (ms < 1 || ms > 600_000) throw new DiagnoseUsageError(`--timeout: "${value}" must be between 1 ms and 10 minutes.`);
  return Math.round(ms);
}

export function parseTlsVersion(value: string): TlsVersionName {
  const v = value.trim().toLowerCase().replace(/^tls\s*v?/, '');
  const map: Record<string, TlsVersionName> = { '1': 'TLSv1', '1.0': 'TLSv1', '1.1': 'TLSv1.1', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };
  const version = map[v];
  if (!version) throw new DiagnoseUsageError(`--min-tls: "${value}" is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.`);
  return version;
}

interface RawOptions {
  security?: string;
  user?: string;
  authzid?: string;
  passwordFile?: string;
  password?: string;
  minTls?: string;
  ciphers?: string;
  ca?: string;
  servername?: string;
  timeout: string;
  size: boolean;
  json?: boolean;
}

function readFileOrUsage(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new DiagnoseUsageError(`${what}: the file ${path} could not be read (${(err as NodeJS.ErrnoException).code ?? String(err)}).`);
  }
}

/** Command-line options → probe options. Throws DiagnoseUsageError. Never reads a password from argv. */
export function buildDiagnoseOptions(targetSpec: string, raw: RawOptions, env: NodeJS.ProcessEnv): DiagnoseOptions {
  if (raw.password !== undefined) {
    throw new DiagnoseUsageError('Passwords are never accepted on the command line (they show in the process list and shell history): use --password-file FILE or the MAILSHIFT_PASSWORD environment variable.');
  }
  let security: SecurityMode | undefined;
  if (raw.security !== undefined) {
    const s = raw.security.toLowerCase();
    if (s === 'tls') security = 'ssl';
    else if ((SECURITY_MODES as readonly string[]).includes(s)) security = s as SecurityMode;
    else throw new DiagnoseUsageError(`--security: "${raw.security}" must be ssl, starttls or none.`);
  }
  const target = parseTarget(targetSpec);
  const endpoint = resolveEndpoint(target.port, security);
  const options: DiagnoseOptions = {
    host: target.host,
    port: endpoint.port,
    security: endpoint.security,
    timeoutMs: parseTimeout(raw.timeout),
  };
  if (raw.user) {
    options.user = raw.user;
    if (raw.passwordFile) {
      // Only the first line: editors add a trailing newline that is not part of the password.
      options.password = readFileOrUsage(raw.passwordFile, '--password-file').split(/\r?\n/)[0] ?? '';
    } else if (env.MAILSHIFT_PASSWORD !== undefined && env.MAILSHIFT_PASSWORD !== '') {
      options.password = env.MAILSHIFT_PASSWORD;
    } else {
      throw new DiagnoseUsageError(`No password for ${raw.user}: set MAILSHIFT_PASSWORD or pass --password-file FILE.`);
    }
  } else if (raw.authzid || raw.passwordFile) {
    throw new DiagnoseUsageError(`${raw.authzid ? '--authzid' : '--password-file'} needs --user.`);
  }
  if (raw.authzid) options.authzid = raw.authzid;
  if (raw.minTls) options.minTlsVersion = parseTlsVersion(raw.minTls);
  if (raw.ciphers) options.ciphers = raw.ciphers;
  if (raw.ca) options.ca = readFileOrUsage(raw.ca, '--ca');
  if (raw.servername) options.servername = raw.servername;
  if (!raw.size) options.skipSize = true;
  return options;
}

function defaultIo(): DiagnoseCliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    setExitCode: (code) => { process.exitCode = code; },
    run: (o) => runDiagnose(o),
  };
}

export function registerDiagnoseCommand(program: Command, ioOverrides: Partial<DiagnoseCliIo> = {}): void {
  const io: DiagnoseCliIo = { ...defaultIo(), ...ioOverrides };
  program
    .command('diagnose')
    .description('Check an IMAP server step by step (DNS, TCP, TLS, IMAP, login, size) and explain the first failure and its fix')
    .argument('<host[:port]>', 'IMAP server, e.g. imap.contoso.com:993 (993 implies ssl, 143 starttls)')
    .option('--security <mode>', 'ssl (implicit TLS), starttls or none')
    .option('--user <user>', 'also test signing in (password from MAILSHIFT_PASSWORD or --password-file)')
    .option('--authzid <mailbox>', 'admin impersonation: sign in as --user on behalf of this mailbox (SASL PLAIN)')
    .option('--password-file <file>', 'read the password from the first line of this file')
    // Accepted only to refuse it with a clear message instead of commander's "unknown option".
    .addOption(new Option('--password <password>').hideHelp())
    .option('--min-tls <version>', 'lowest TLS version to accept: TLSv1, TLSv1.1, TLSv1.2 (default), TLSv1.3; a last resort for legacy servers')
    .option('--ciphers <list>', 'OpenSSL cipher list, e.g. "DEFAULT:@SECLEVEL=0" for legacy servers (last resort)')
    .option('--ca <file>', 'PEM file of CA certificates to trust in addition to the system store')
    .option('--servername <name>', 'name to check the certificate against (and send as SNI), when connecting by address')
    .option('--timeout <duration>', 'per network phase (connect, greeting, handshake, each command)', `${DEFAULT_TIMEOUT_MS / 1000}s`)
    .option('--no-size', 'skip counting folders and messages after login')
    .option('--json', 'print the report as JSON')
    .action(async (targetSpec: string, raw: RawOptions) => {
      let options: DiagnoseOptions;
      try {
        options = buildDiagnoseOptions(targetSpec, raw, io.env);
      } catch (err) {
        if (!(err instanceof DiagnoseUsageError)) throw err;
        if (raw.json) io.stdout(`${JSON.stringify({ ok: false, exitCode: EXIT_CODES.usage, error: { code: 'USAGE_INVALID_OPTION', message: err.message } }, null, 2)}\n`);
        else io.stderr(`mailshift diagnose: ${err.message}\n  Run mailshift diagnose --help for the options.\n`);
        io.setExitCode(EXIT_CODES.usage);
        return;
      }
      const report = await io.run(options);
      io.stdout(raw.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      io.setExitCode(report.exitCode);
    });
}
