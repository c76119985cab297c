/**
 * diagnose against the connection-layer failures of seed 001, reproduced on 127.0.0.1 without
 * Dovecot: a closed port, a listener that never answers, a name that cannot resolve, and listeners
 * that answer something other than an IMAP greeting. Also the CLI's usage errors and exit codes.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { registerDiagnoseCommand } from '../src/cli/commands/diagnose-command.ts';
import { runDiagnose } from '../src/diagnose/diagnose-probe.ts';
import type { DiagnoseReport } from '../src/diagnose/diagnose-types.ts';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

async function listen(onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConnection(s);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A port that was just free: bound, then closed again, so connecting is refused. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function assertFailure(r: DiagnoseReport, step: string, code: string, exitCode: number): void {
  assert.equal(r.ok, false);
  assert.equal(r.failedStep, step, JSON.stringify(r.verdict));
  assert.equal(r.verdict.code, code);
  assert.equal(r.exitCode, exitCode);
  assert.ok(r.verdict.remediation.length > 30, 'a remediation is given');
  const failing = r.steps.find((s) => s.step === step)!;
  assert.equal(failing.status, 'fail');
  assert.deepEqual(failing.verdict, r.verdict);
  const after = r.steps.slice(r.steps.indexOf(failing) + 1);
  assert.ok(after.every((s) => s.status === 'skipped'), 'later steps are skipped');
}

let silentPort = 0;
let pop3Port = 0;
let byePort = 0;

before(async () => {
  silentPort = await listen(() => undefined);
  pop3Port = await listen((s) => s.write('+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n'));
  byePort = await listen((s) => s.end('* BYE Too many connections from your IP address, try again later\r\n'));
});

after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('diagnose: connection failures', () => {
  it('a closed port: CONN_REFUSED, the IMAP service is not running', async () => {
    const r = await runDiagnose({ host: '127.0.0.1', port: await closedPort(), security: 'ssl', timeoutMs: 2000 });
    assertFailure(r, 'tcp', 'CONN_REFUSED', 3);
    assert.equal(r.verdict.message, 'The connection to the server 127.0.0.1 could not be completed.');
    assert.match(r.verdict.remediation, /IMAP service is running/);
  });

  it('a listener that never answers (implicit TLS): CONN_TIMEOUT with the seed wording', async () => {
    const r = await runDiagnose({ host: '127.0.0.1', port: silentPort, security: 'ssl', timeoutMs: 300 });
    assertFailure(r, 'tls', 'CONN_TIMEOUT', 3);
    assert.equal(r.verdict.message, 'The connection to the server 127.0.0.1 timed out after 00:00:00.300.');
    assert.match(r.verdict.remediation, /firewall/);
    assert.match(r.verdict.remediation, /TLS handshake/);
  });

  it('a listener that never answers (plain IMAP): CONN_TIMEOUT waiting for the greeting', async () => {
    const r = await runDiagnose({ host: '127.0.0.1', port: silentPort, security: 'starttls', timeoutMs: 300 });
    assertFailure(r, 'tls', 'CONN_TIMEOUT', 3);
    assert.match(r.verdict.remediation, /greeting/);
  });

  it('a .invalid name: CONN_DNS, "could not be completed"', async () => {
    // RFC 6761: .invalid never resolves; dns.lookup reads /etc/hosts and asks the system resolver once.
    const r = await runDiagnose({ host: 'imap.mailshift-test.invalid', port: 993, security: 'ssl', timeoutMs: 5000 });
    assertFailure(r, 'dns', 'CONN_DNS', 3);
    assert.equal(r.verdict.message, 'The connection to the server imap.mailshift-test.invalid could not be completed.');
    assert.match(r.verdict.remediation, /A \(or AAAA\) record/);
  });

  it('a port that speaks another protocol: CONN_NOT_IMAP', async () => {
    const r = await runDiagnose({ host: '127.0.0.1', port: pop3Port, security: 'none', timeoutMs: 2000 });
    assertFailure(r, 'imap', 'CONN_NOT_IMAP', 3);
    assert.match(r.verdict.message, /\+OK POP3/);
    assert.match(r.verdict.remediation, /110\/995 is POP3/);
  });

  it('a server that hangs up with BYE at once: its reason is classified', async () => {
    const r = await runDiagnose({ host: '127.0.0.1', port: byePort, security: 'none', timeoutMs: 2000 });
    assertFailure(r, 'imap', 'CONN_TOO_MANY', 3);
  });
});

describe('diagnose command', () => {
  async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ out: string; err: string; code: number | null }> {
    let out = '';
    let err = '';
    let code: number | null = null;
    const program = new Command().exitOverride();
    registerDiagnoseCommand(program, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, env, setExitCode: (c) => { code = c; } });
    await program.parseAsync(['diagnose', ...args], { from: 'user' });
    return { out, err, code };
  }

  it('exits 3 for a refused connection and prints the cause and the fix', async () => {
    const r = await cli([`127.0.0.1:${await closedPort()}`, '--timeout', '2s']);
    assert.equal(r.code, 3);
    assert.match(r.out, /FAIL {2}tcp/);
    assert.match(r.out, /FAILED at tcp \[CONN_REFUSED\]/);
    assert.match(r.out, /How to fix: Nothing accepts connections/);
  });

  it('--json prints the report', async () => {
    const r = await cli([`127.0.0.1:${silentPort}`, '--timeout', '200ms', '--security', 'none', '--json']);
    assert.equal(r.code, 3);
    const report = JSON.parse(r.out) as DiagnoseReport;
    assert.equal(report.verdict.code, 'CONN_TIMEOUT');
    assert.deepEqual(report.steps.map((s) => s.step), ['dns', 'tcp', 'tls', 'imap', 'login', 'size']);
  });

  it('exits 2 for usage errors, and never takes a password on the command line', async () => {
    const r1 = await cli(['127.0.0.1', '--user', 'alice', '--password', 'hunter2']);
    assert.equal(r1.code, 2);
    assert.match(r1.err, /never accepted on the command line/);
    assert.doesNotMatch(r1.err + r1.out, /hunter2/);
    assert.equal((await cli(['127.0.0.1', '--user', 'alice'])).code, 2);
    assert.equal((await cli(['127.0.0.1', '--security', 'tls9'])).code, 2);
    assert.equal((await cli(['127.0.0.1:99999'])).code, 2);
  });
});
