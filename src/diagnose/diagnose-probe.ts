/**
 * The diagnose probe: DNS → TCP → TLS → IMAP → LOGIN → SIZE, each step timed and judged, stopping
 * at the first failure with its cause and remediation. Automates the seeds' troubleshooting trees
 * (telnet to the port, `openssl s_client -showcerts`, "did this solve your problem?").
 *
 * Raw node:dns/net/tls instead of an IMAP client library: diagnose needs what a client hides — the
 * negotiated protocol and cipher, the chain as sent, OpenSSL's exact verify error, second
 * handshakes with different settings, and the server's literal words.
 *
 * Certificate validation is never relaxed for the real session. Extra handshakes with
 * `rejectUnauthorized: false` only *describe* what the server presents; they are labelled
 * `diagnosticHandshake` in the report and no IMAP command is ever sent over them.
 */
import dns from 'node:dns';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { verdict, exitCodeForVerdict, formatElapsed, type DiagnoseCode, type DiagnoseVerdict } from './diagnose-codes.ts';
import type {
  CertificateDescription, DiagnoseNote, DiagnoseOptions, DiagnoseReport, DiagnoseStep, DiagnoseStepName,
  DiagnoseTarget, TlsVersionName,
} from './diagnose-types.ts';
import { DIAGNOSE_STEPS, TLS_VERSIONS } from './diagnose-types.ts';
import { ImapWire, parseValues, quoteString, WireError, type ImapLine } from './imap-wire.ts';
import { classifyLoginFailure, splitImpersonation } from './login-analysis.ts';
import { detectServerKind, idFields, migrationNotes, summariseCapabilities, type ServerKind } from './server-profile.ts';
import {
  CERTIFICATE_ERROR_CODES, classifyCertificateFailure, classifyProtocolFailure, describeChain, looksLikePlaintextPeer,
  type VersionProbe,
} from './tls-analysis.ts';
import {
  capabilitiesFrom, connectTcp, isIpLiteral, PhaseTimeout, startTlsPreamble, StartTlsRefused, tlsHandshake,
} from './transport.ts';

export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * Messages per second one mailbox migration is assumed to reach, for the SIZE step's estimate.
 * PROVISIONAL: a round number between imapflow's single-command APPEND (~12 msg/s at 40 ms RTT) and
 * the pipelined LITERAL+ writer (~826 msg/s on loopback-with-latency, ARCHITECTURE.md); replace it
 * with the figure the benchmark issue measures.
 */
export const MEASURED_RATE_MSGS_PER_S = 100;
/** Bytes per second assumed for the same estimate (PROVISIONAL, same caveat): large mailboxes are bandwidth-bound. */
export const MEASURED_RATE_BYTES_PER_S = 10 * 1024 * 1024;

/** Short cap for the extra diagnostic connections made after a failure (they only refine the cause). */
const DIAGNOSTIC_TIMEOUT_CAP_MS = 5_000;

export interface DiagnoseDeps {
  /** Name resolution; defaults to dns.lookup (hosts file + system resolver, one query). */
  lookup?: (host: string) => Promise<Array<{ address: string; family: number }>>;
  now?: () => Date;
}

class StepFailure extends Error {
  constructor(readonly verdict: DiagnoseVerdict, readonly details: Record<string, unknown> = {}) {
    super(verdict.message);
    this.name = 'StepFailure';
  }
}

interface Session {
  wire: ImapWire;
  greeting: ImapLine;
  /** Capabilities after TLS (or on the plain connection for security none). */
  capabilities: string[];
  tlsSocket: tls.TLSSocket | null;
}

interface Ctx {
  opts: DiagnoseOptions;
  host: string;
  port: number;
  timeoutMs: number;
  /** Name the certificate must match, and SNI when it is not an IP literal. */
  certName: string;
  minimum: TlsVersionName;
  now: () => Date;
}

const defaultLookup = async (host: string): Promise<Array<{ address: string; family: number }>> =>
  dns.promises.lookup(host, { all: true, verbatim: true });

function errCode(err: unknown): string {
  if (err instanceof PhaseTimeout) return 'TIMEOUT';
  return (err as NodeJS.ErrnoException | null)?.code ?? '';
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function tlsOptions(ctx: Ctx, overrides: tls.ConnectionOptions = {}): tls.ConnectionOptions {
  const base: tls.ConnectionOptions = {
    host: ctx.certName,
    rejectUnauthorized: true,
    // --ca adds to the system store (ConnectionSettings.ca semantics), it does not replace it.
    ...(ctx.opts.ca ? { ca: [...tls.rootCertificates, ctx.opts.ca] } : {}),
    ...(ctx.opts.minTlsVersion ? { minVersion: ctx.opts.minTlsVersion } : {}),
    ...(ctx.opts.ciphers ? { ciphers: ctx.opts.ciphers } : {}),
  };
  if (!isIpLiteral(ctx.certName)) base.servername = ctx.certName;
  return { ...base, ...overrides };
}

/**
 * Describe-only handshake options: no verification, and an EMPTY trust store so Node cannot splice
 * issuers from the local store into getPeerCertificate(true) — the chain reported is the one sent.
 */
function describeOptions(ctx: Ctx, overrides: tls.ConnectionOptions = {}): tls.ConnectionOptions {
  return tlsOptions(ctx, { rejectUnauthorized: false, ca: [], ...overrides });
}

function greetingProblem(ctx: Ctx, greeting: ImapLine): DiagnoseVerdict | null {
  if (greeting.tag === '*' && (greeting.kind === 'OK' || greeting.kind === 'PREAUTH')) return null;
  if (greeting.tag === '*' && greeting.kind === 'BYE') {
    const code = classifyLoginFailure({ code: greeting.code, text: greeting.text });
    if (code === 'CONN_TOO_MANY') return verdict('CONN_TOO_MANY', { host: ctx.host, detail: greeting.text });
    return verdict('CONN_GREETING_BYE', { host: ctx.host, port: ctx.port, detail: greeting.text });
  }
  return verdict('CONN_NOT_IMAP', { host: ctx.host, port: ctx.port, detail: greeting.raw.slice(0, 80) });
}

function timeoutVerdict(ctx: Ctx, phase: string, extra: string): DiagnoseVerdict {
  return verdict('CONN_TIMEOUT', { host: ctx.host, port: ctx.port, elapsed: formatElapsed(ctx.timeoutMs) },
    `(No answer during: ${phase}.) ${extra}`.trim());
}

/** Opens a connection with the real (verifying) settings up to the IMAP greeting. Used for retries. */
async function openSession(ctx: Ctx, address: string): Promise<Session> {
  const socket = await connectTcp(address, ctx.port, ctx.timeoutMs);
  if (ctx.opts.security === 'starttls') {
    const pre = await startTlsPreamble(socket, ctx.timeoutMs);
    const secure = await tlsHandshake(socket, tlsOptions(ctx), ctx.timeoutMs);
    pre.wire.attach(secure);
    const caps = capabilitiesFrom((await pre.wire.command(['CAPABILITY'])).untagged);
    return { wire: pre.wire, greeting: pre.greeting, capabilities: caps, tlsSocket: secure };
  }
  const transport = ctx.opts.security === 'ssl' ? await tlsHandshake(socket, tlsOptions(ctx), ctx.timeoutMs) : socket;
  const wire = new ImapWire(transport, ctx.timeoutMs);
  const greeting = await wire.readGreeting();
  const caps = capabilitiesFrom((await wire.command(['CAPABILITY'])).untagged);
  return { wire, greeting, capabilities: caps, tlsSocket: ctx.opts.security === 'ssl' ? (transport as tls.TLSSocket) : null };
}

/** A fresh TCP (+ STARTTLS preamble) connection, then a handshake with `options`; for diagnostic handshakes. */
async function diagnosticHandshake(ctx: Ctx, address: string, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  const timeout = Math.min(ctx.timeoutMs, DIAGNOSTIC_TIMEOUT_CAP_MS);
  const socket = await connectTcp(address, ctx.port, timeout);
  if (ctx.opts.security === 'starttls') {
    try {
      await startTlsPreamble(socket, timeout);
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }
  return tlsHandshake(socket, options, timeout);
}

async function sweepVersions(ctx: Ctx, address: string): Promise<{ sweep: VersionProbe[]; chain: CertificateDescription[] }> {
  const sweep: VersionProbe[] = [];
  let chain: CertificateDescription[] = [];
  for (const version of TLS_VERSIONS) {
    try {
      // SECLEVEL=0 and every cipher: this handshake asks "what CAN the server do", not "is it safe".
      const s = await diagnosticHandshake(ctx, address, describeOptions(ctx, {
        minVersion: version, maxVersion: version, ciphers: 'ALL:@SECLEVEL=0',
      }));
      sweep.push({ version, ok: true, cipher: s.getCipher().name });
      if (chain.length === 0) chain = describeChain(s);
      s.destroy();
    } catch (err) {
      sweep.push({ version, ok: false, error: errCode(err) || errMessage(err) });
    }
  }
  return { sweep, chain };
}

/** When a TLS handshake failed: run the diagnostic handshakes and name the cause. */
async function explainTlsFailure(ctx: Ctx, address: string, err: unknown): Promise<StepFailure> {
  const code = errCode(err);
  const message = errMessage(err);
  const details: Record<string, unknown> = { error: message, errorCode: code };
  if (err instanceof PhaseTimeout) {
    return new StepFailure(timeoutVerdict(ctx, 'the TLS handshake',
      'The TCP connection was accepted but the TLS handshake got no answer: usually a network device dropping packets, or a server that expects a plain-text client on this port (try --security starttls on port 143).'), details);
  }
  if (CERTIFICATE_ERROR_CODES.has(code)) {
    let chain: CertificateDescription[] = [];
    try {
      const s = await diagnosticHandshake(ctx, address, describeOptions(ctx));
      chain = describeChain(s);
      s.destroy();
    } catch (describeErr) {
      details.describeError = errMessage(describeErr);
    }
    details.chainAsSent = chain;
    details.diagnosticHandshake = 'certificates described by a second handshake without verification (used only to describe them; no IMAP over it)';
    const { verdict: v, problems } = classifyCertificateFailure({ host: ctx.certName, errorCode: code, errorMessage: message, chain, now: ctx.now() }, ctx.port);
    details.problems = problems;
    return new StepFailure(v, details);
  }
  if (looksLikePlaintextPeer(code, message)) {
    const answer = await plaintextAnswer(ctx, address);
    details.plaintextAnswer = answer;
    if (answer && /^\* (OK|PREAUTH|BYE)\b/i.test(answer)) {
      return new StepFailure(verdict('TLS_PLAINTEXT_PORT', { host: ctx.host, port: ctx.port }), details);
    }
    if (answer) return new StepFailure(verdict('CONN_NOT_IMAP', { host: ctx.host, port: ctx.port, detail: answer.slice(0, 80) }), details);
  }
  const { sweep, chain } = await sweepVersions(ctx, address);
  details.versionSweep = sweep;
  details.supportedVersions = sweep.filter((p) => p.ok).map((p) => p.version);
  details.diagnosticHandshake = 'one handshake per TLS version with every cipher allowed (SECLEVEL=0), without verification, to learn what the server supports';
  if (chain.length > 0) details.chainAsSent = chain;
  return new StepFailure(classifyProtocolFailure({ host: ctx.host, port: ctx.port, errorCode: code, errorMessage: message, minimum: ctx.minimum, sweep }), details);
}

/** What a port says to a plain-text client in the first seconds (null: nothing). */
async function plaintextAnswer(ctx: Ctx, address: string): Promise<string | null> {
  const timeout = Math.min(ctx.timeoutMs, DIAGNOSTIC_TIMEOUT_CAP_MS);
  let wire: ImapWire | null = null;
  try {
    const socket = await connectTcp(address, ctx.port, timeout);
    wire = new ImapWire(socket, timeout);
    return (await wire.readGreeting()).raw;
  } catch {
    return null;
  } finally {
    wire?.rawSocket.destroy();
  }
}

/** After a plain-text client got no greeting: does the port expect TLS first (implicit TLS, 993)? */
async function speaksImplicitTls(ctx: Ctx, address: string): Promise<boolean> {
  const timeout = Math.min(ctx.timeoutMs, DIAGNOSTIC_TIMEOUT_CAP_MS);
  try {
    const socket = await connectTcp(address, ctx.port, timeout);
    const s = await tlsHandshake(socket, describeOptions(ctx, { minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' }), timeout);
    s.destroy();
    return true;
  } catch {
    return false;
  }
}

function wireFailure(ctx: Ctx, err: unknown, phase: string, extra = ''): StepFailure {
  if (err instanceof WireError) {
    if (err.kind === 'timeout') return new StepFailure(timeoutVerdict(ctx, phase, extra));
    if (err.bye) {
      const g = greetingProblem(ctx, err.bye);
      if (g) return new StepFailure(g, { bye: err.bye.raw });
    }
    return new StepFailure(verdict('IMAP_PROTOCOL', { host: ctx.host, detail: `${err.message} (during ${phase})` }));
  }
  if (err instanceof PhaseTimeout) return new StepFailure(timeoutVerdict(ctx, phase, extra));
  return new StepFailure(verdict('IMAP_PROTOCOL', { host: ctx.host, detail: `${errMessage(err)} (during ${phase})` }));
}

function tlsDetails(socket: tls.TLSSocket): Record<string, unknown> {
  const cipher = socket.getCipher();
  return {
    protocol: socket.getProtocol(),
    cipher: cipher.name,
    cipherStandardName: cipher.standardName,
    authorized: socket.authorized,
  };
}

function tlsNotes(ctx: Ctx, socket: tls.TLSSocket, chain: CertificateDescription[]): DiagnoseNote[] {
  const notes: DiagnoseNote[] = [];
  const protocol = socket.getProtocol();
  if (protocol === 'TLSv1' || protocol === 'TLSv1.1') {
    notes.push({ code: 'TLS_LEGACY_NEGOTIATED', severity: 'warn', appliesTo: 'both', message: `${protocol} was negotiated because of --min-tls: a last resort. Upgrade the server and remove the override after the migration.` });
  }
  const leaf = chain[0];
  if (leaf) {
    const days = Math.floor((new Date(leaf.validTo).getTime() - ctx.now().getTime()) / 86_400_000);
    if (days < 30) {
      notes.push({ code: 'TLS_CERT_EXPIRING', severity: 'warn', appliesTo: 'both', message: `The server certificate expires in ${days} day(s) (${leaf.validTo}): renew it before or during the migration window.` });
    }
  }
  return notes;
}

/** Runs the whole probe. Never throws for a server-side problem: it is in the report. */
export async function runDiagnose(opts: DiagnoseOptions, deps: DiagnoseDeps = {}): Promise<DiagnoseReport> {
  const started = performance.now();
  const ctx: Ctx = {
    opts,
    host: opts.host,
    port: opts.port,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    certName: opts.servername ?? opts.host,
    minimum: (opts.minTlsVersion ?? tls.DEFAULT_MIN_VERSION) as TlsVersionName,
    now: deps.now ?? (() => new Date()),
  };
  const lookup = deps.lookup ?? defaultLookup;
  const steps: DiagnoseStep[] = [];
  let failed: DiagnoseStep | null = null;

  /** Runs one step; a StepFailure becomes a failing step, anything else an IMAP_PROTOCOL failure. */
  const step = async (name: DiagnoseStepName, body: (s: DiagnoseStep) => Promise<void>): Promise<boolean> => {
    const s: DiagnoseStep = { step: name, status: 'pass', ms: 0, summary: '', details: {}, notes: [] };
    const t = performance.now();
    try {
      await body(s);
      if (s.status === 'pass' && s.notes.some((n) => n.severity === 'warn')) s.status = 'warn';
    } catch (err) {
      const f = err instanceof StepFailure ? err : new StepFailure(verdict('IMAP_PROTOCOL', { host: ctx.host, detail: errMessage(err) }));
      s.status = 'fail';
      s.verdict = f.verdict;
      s.details = { ...s.details, ...f.details };
      s.summary = f.verdict.message;
      failed = s;
    }
    s.ms = Math.round(performance.now() - t);
    steps.push(s);
    return s.status !== 'fail';
  };

  let addresses: string[] = [];
  let address = '';
  let socket: net.Socket | null = null;
  let session: Session | null = null;
  let loggedIn = false;
  let capsAfterLogin: string[] | null = null;
  let imapStep: DiagnoseStep | null = null;
  let serverKind: ServerKind | null = null;

  /** Rewrites the IMAP step's capability facts and migration notes with the authenticated view. */
  const judgeCapabilities = (caps: string[], phase: string): void => {
    const st = imapStep as DiagnoseStep | null;
    if (!st || !serverKind) return;
    const summary = summariseCapabilities(caps);
    st.details.capabilities = summary.all;
    st.details.capabilityFlags = summary.flags;
    st.details.authMechanisms = summary.authMechanisms.length > 0 ? summary.authMechanisms : st.details.authMechanisms;
    st.details.appendLimit = summary.appendLimit;
    st.details.capabilitiesPhase = phase;
    st.notes = [...st.notes.filter((n) => !n.code.startsWith('IMAP_') || n.code === 'IMAP_STARTTLS_AVAILABLE'), ...migrationNotes(summary, serverKind)];
    st.status = st.notes.some((n) => n.severity === 'warn') ? 'warn' : 'pass';
    st.summary = `${serverKind.name === 'unknown' ? 'unknown server' : serverKind.name}, ${caps.length} capabilities (${phase})`;
  };

  try {
    await step('dns', async (s) => {
      if (isIpLiteral(ctx.host)) {
        addresses = [ctx.host];
        s.details = { addresses, literal: true };
        s.summary = `${ctx.host} is an IP address (no lookup needed)`;
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = await Promise.race([
          lookup(ctx.host),
          new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new PhaseTimeout('dns lookup', ctx.timeoutMs)), ctx.timeoutMs); }),
        ]);
        addresses = result.map((r) => r.address);
      } catch (err) {
        const code = errCode(err);
        s.details = { error: errMessage(err), errorCode: code };
        const why = code === 'ENOTFOUND' || code === 'ENODATA'
          ? 'The name does not exist in DNS.'
          : code === 'TIMEOUT' || code === 'EAI_AGAIN' ? 'The resolver did not answer: check this machine\'s DNS servers.' : '';
        throw new StepFailure(verdict('CONN_DNS', { host: ctx.host }, why), s.details);
      } finally {
        clearTimeout(timer);
      }
      s.details = { addresses };
      s.summary = `${ctx.host} resolves to ${addresses.join(', ')}`;
    });
    if (failed) return finish();

    await step('tcp', async (s) => {
      const attempts: Array<{ address: string; result: string; ms: number }> = [];
      s.details = { port: ctx.port, attempts };
      let lastErr: unknown = null;
      for (const candidate of addresses) {
        const t = performance.now();
        try {
          socket = await connectTcp(candidate, ctx.port, ctx.timeoutMs);
          attempts.push({ address: candidate, result: 'connected', ms: Math.round(performance.now() - t) });
          address = candidate;
          s.details.address = candidate;
          s.summary = `connected to ${candidate} port ${ctx.port}`;
          return;
        } catch (err) {
          lastErr = err;
          attempts.push({ address: candidate, result: errCode(err) || errMessage(err), ms: Math.round(performance.now() - t) });
        }
      }
      const code = errCode(lastErr);
      if (code === 'TIMEOUT') throw new StepFailure(timeoutVerdict(ctx, 'the TCP connection', 'The port did not answer at all: a firewall drops the packets, or nothing listens and the host is silent.'));
      if (code === 'ECONNREFUSED') throw new StepFailure(verdict('CONN_REFUSED', { host: ctx.host, port: ctx.port }));
      throw new StepFailure(verdict('CONN_UNREACHABLE', { host: ctx.host, detail: `${code || errMessage(lastErr)}` }));
    });
    if (failed) return finish();

    let preGreeting: ImapLine | null = null;
    let tlsSocket: tls.TLSSocket | null = null;
    let wire: ImapWire | null = null;

    await step('tls', async (s) => {
      const plain = socket!;
      if (ctx.opts.security === 'none') {
        s.status = 'skipped';
        s.summary = 'not requested (--security none): the connection is not encrypted';
        s.notes.push({ code: 'TLS_NONE', severity: 'warn', appliesTo: 'both', message: 'No encryption: the password and all mail travel in clear text. Use --security ssl or starttls unless the network is trusted.' });
        wire = new ImapWire(plain, ctx.timeoutMs);
        return;
      }
      if (ctx.opts.security === 'starttls') {
        try {
          const pre = await startTlsPreamble(plain, ctx.timeoutMs);
          preGreeting = pre.greeting;
          wire = pre.wire;
          s.details.greetingBeforeTls = pre.greeting.raw;
        } catch (err) {
          plain.destroy();
          if (err instanceof StartTlsRefused) {
            throw new StepFailure(verdict('TLS_STARTTLS_UNAVAILABLE', { host: ctx.host, port: ctx.port }, err.reason === 'refused' ? `The server said: ${err.serverText}` : undefined));
          }
          if (err instanceof WireError && err.kind === 'timeout' && await speaksImplicitTls(ctx, address)) {
            throw new StepFailure(verdict('TLS_EXPECTED', { host: ctx.host, port: ctx.port, security: 'starttls' }));
          }
          const g = err instanceof WireError && err.bye ? greetingProblem(ctx, err.bye) : null;
          if (g) throw new StepFailure(g);
          throw wireFailure(ctx, err, 'the IMAP greeting before STARTTLS',
            'The TCP connection was accepted but no IMAP greeting came: check that this port runs IMAP and that no proxy or intrusion-detection system swallows the traffic.');
        }
        // A greeting that is not IMAP is caught by the preamble's CAPABILITY; name it properly here.
        const g = greetingProblem(ctx, preGreeting!);
        if (g) throw new StepFailure(g);
      }
      try {
        tlsSocket = await tlsHandshake(plain, tlsOptions(ctx), ctx.timeoutMs);
      } catch (err) {
        throw await explainTlsFailure(ctx, address, err);
      }
      Object.assign(s.details, tlsDetails(tlsSocket));
      let chain: CertificateDescription[] = [];
      try {
        const d = await diagnosticHandshake(ctx, address, describeOptions(ctx));
        chain = describeChain(d);
        d.destroy();
        s.details.chainSource = 'a second handshake with an empty trust store, so the list is exactly what the server sent (the session itself was verified)';
      } catch {
        chain = describeChain(tlsSocket);
        s.details.chainSource = 'the verified session (may include the root from the local trust store)';
      }
      s.details.chain = chain;
      s.details.certificatesSent = chain.length;
      s.notes.push(...tlsNotes(ctx, tlsSocket, chain));
      if (wire) (wire as ImapWire).attach(tlsSocket);
      else wire = new ImapWire(tlsSocket, ctx.timeoutMs);
      s.summary = `${tlsSocket.getProtocol()} ${tlsSocket.getCipher().name}, certificate for ${chain[0]?.subject ?? '?'} verified (${chain.length} sent)`;
    });
    if (failed) return finish();

    await step('imap', async (s) => {
      const w = wire!;
      let greeting = preGreeting;
      if (!greeting) {
        try {
          greeting = await w.readGreeting();
        } catch (err) {
          if (err instanceof WireError && err.kind === 'timeout' && ctx.opts.security === 'none' && await speaksImplicitTls(ctx, address)) {
            throw new StepFailure(verdict('TLS_EXPECTED', { host: ctx.host, port: ctx.port, security: 'none' }));
          }
          throw wireFailure(ctx, err, 'the IMAP greeting',
            'The connection was accepted but no IMAP greeting came: check that this port runs IMAP (993 with --security ssl, 143 with starttls) and that no proxy or intrusion-detection system swallows the traffic.');
        }
        const g = greetingProblem(ctx, greeting);
        if (g) throw new StepFailure(g, { greeting: greeting.raw });
      }
      s.details.greeting = greeting.raw;
      let caps: string[];
      try {
        caps = capabilitiesFrom((await w.command(['CAPABILITY'])).untagged);
      } catch (err) {
        throw wireFailure(ctx, err, 'CAPABILITY');
      }
      const summary = summariseCapabilities(caps);
      s.details.capabilities = summary.all;
      s.details.capabilityFlags = summary.flags;
      s.details.authMechanisms = summary.authMechanisms;
      s.details.appendLimit = summary.appendLimit;
      let id: Record<string, string> | null = null;
      if (summary.flags['ID']) {
        try {
          const res = await w.command(['ID', '("name" "mailshift" "vendor" "mailshift")']);
          const line = res.untagged.find((l) => l.kind === 'ID');
          if (line) id = idFields(parseValues(line.raw.split(' ').slice(2).join(' '))[0]);
        } catch {
          // ID is informational; a server that chokes on it is still usable.
        }
      }
      s.details.id = id;
      const kind = detectServerKind(greeting.text, id, caps);
      s.details.serverKind = kind;
      s.details.capabilitiesPhase = 'before login';
      if (opts.user && opts.password !== undefined) {
        // Implications are judged after login (see the login step): most servers announce their
        // extensions only to authenticated clients, and a pre-login list would raise false alarms.
      } else {
        s.notes.push({ code: 'IMAP_CAPABILITIES_BEFORE_LOGIN', severity: 'info', appliesTo: 'both', message: 'Capabilities were read before login; most servers announce CONDSTORE, UIDPLUS, MULTIAPPEND… only after it. Pass --user to check what a migration can use.' });
        if (kind.advice) s.notes.push(...migrationNotes(summary, kind).filter((n) => n.code === 'IMAP_SERVER_ADVICE' || n.code === 'IMAP_GMAIL_LABELS'));
      }
      if (ctx.opts.security === 'none' && summary.flags['STARTTLS']) {
        s.notes.push({ code: 'IMAP_STARTTLS_AVAILABLE', severity: 'warn', appliesTo: 'both', message: 'The server offers STARTTLS: use --security starttls so the password is encrypted.' });
      }
      if (greeting.kind === 'PREAUTH') s.details.preauthenticated = true;
      imapStep = s;
      serverKind = kind;
      session = { wire: w, greeting, capabilities: caps, tlsSocket };
      s.summary = `${kind.name === 'unknown' ? 'unknown server' : kind.name}, ${caps.length} capabilities (before login)`;
    });
    if (failed) return finish();

    await step('login', async (s) => {
      const sess = session!;
      if (!opts.user) {
        s.status = 'skipped';
        s.summary = 'no --user given';
        return;
      }
      if (opts.password === undefined) {
        s.status = 'skipped';
        s.summary = 'no password given';
        return;
      }
      s.details.user = opts.user;
      if (opts.authzid) s.details.authzid = opts.authzid;
      const upperCaps = sess.capabilities.map((c) => c.toUpperCase());
      if (upperCaps.includes('LOGINDISABLED')) {
        throw new StepFailure(verdict('AUTH_LOGIN_DISABLED', { host: ctx.host }, 'The password was not sent.'), { loginDisabled: true, passwordSent: false });
      }
      const attempt = await login(ctx, sess.wire, opts.user, opts.password, opts.authzid, upperCaps);
      s.details.method = attempt.method;
      if (attempt.ok) {
        loggedIn = true;
        capsAfterLogin = attempt.capabilities;
        if (!capsAfterLogin) {
          try {
            capsAfterLogin = capabilitiesFrom((await sess.wire.command(['CAPABILITY'])).untagged);
          } catch {
            capsAfterLogin = null;
          }
        }
        judgeCapabilities(capsAfterLogin ?? sess.capabilities, capsAfterLogin ? 'after login' : 'before login (CAPABILITY failed after login)');
        s.summary = `signed in as ${opts.user}${opts.authzid ? ` for ${opts.authzid}` : ''} (${attempt.method})`;
        return;
      }
      s.details.serverResponse = attempt.text;
      if (attempt.code) s.details.responseCode = attempt.code;
      const code = attempt.classified;
      // Impersonation: the admin's own credentials may be fine and only the "as that mailbox" part refused.
      const split = opts.authzid ? { admin: opts.user, mailbox: opts.authzid } : splitImpersonation(opts.user);
      if (code === 'AUTH_FAILED' && split) {
        const adminOk = await retryAsAdmin(ctx, address, split.admin, opts.password);
        s.details.adminAloneLogin = adminOk ? 'succeeded' : 'failed';
        if (adminOk) {
          throw new StepFailure(verdict('AUTH_IMPERSONATION_DENIED', { host: ctx.host, user: split.admin, authzid: split.mailbox }));
        }
      }
      if (attempt.timeout) throw new StepFailure(timeoutVerdict(ctx, 'the login', 'The server accepted the connection but did not answer the login: its authentication backend may be overloaded.'));
      throw new StepFailure(verdict(code, { host: ctx.host, user: opts.user, detail: attempt.text, authzid: opts.authzid ?? '' }));
    });
    if (failed) return finish();

    await step('size', async (s) => {
      if (!loggedIn || opts.skipSize) {
        s.status = 'skipped';
        s.summary = loggedIn ? 'skipped (--no-size)' : 'needs a login';
        return;
      }
      const sess = session!;
      const caps = (capsAfterLogin ?? sess.capabilities).map((c) => c.toUpperCase());
      try {
        const size = await measureSize(sess.wire, caps.includes('STATUS=SIZE'));
        const estimateS = Math.max(size.messages / MEASURED_RATE_MSGS_PER_S, (size.bytes ?? 0) / MEASURED_RATE_BYTES_PER_S);
        s.details = {
          folders: size.folders,
          folderCount: size.folders.length,
          messages: size.messages,
          bytes: size.bytes,
          sizeMethod: size.method,
          estimatedSeconds: Math.round(estimateS),
          assumedRate: { messagesPerSecond: MEASURED_RATE_MSGS_PER_S, bytesPerSecond: MEASURED_RATE_BYTES_PER_S, provisional: true },
        };
        s.summary = `${size.folders.length} folders, ${size.messages} messages${size.bytes !== null ? `, ${formatBytes(size.bytes)}` : ''}; about ${formatDuration(estimateS)} to migrate at the provisional rate of ${MEASURED_RATE_MSGS_PER_S} msg/s`;
        if (size.unreadable.length > 0) {
          s.notes.push({ code: 'SIZE_FOLDERS_UNREADABLE', severity: 'warn', appliesTo: 'source', message: `STATUS failed for ${size.unreadable.length} folder(s): ${size.unreadable.slice(0, 5).join(', ')}` });
        }
      } catch (err) {
        // The size is informational: a server that refuses LIST/STATUS still migrates (or fails later, with its own error).
        s.status = 'warn';
        s.summary = `could not measure the mailbox: ${errMessage(err)}`;
        s.notes.push({ code: 'SIZE_UNAVAILABLE', severity: 'warn', appliesTo: 'source', message: s.summary });
      }
    });
    return finish();
  } finally {
    const sess = session as Session | null;
    if (sess) await sess.wire.close();
    else (socket as net.Socket | null)?.destroy();
  }

  function finish(): DiagnoseReport {
    for (const name of DIAGNOSE_STEPS) {
      if (!steps.some((s) => s.step === name)) {
        steps.push({ step: name, status: 'skipped', ms: 0, summary: failed ? `not run: the ${failed.step} step failed` : 'not run', details: {}, notes: [] });
      }
    }
    const f = failed as DiagnoseStep | null;
    const v: DiagnoseVerdict = f?.verdict ?? {
      code: 'DIAGNOSE_OK',
      message: loggedIn ? `mailshift can connect to ${ctx.host} and sign in as ${opts.user}.` : `mailshift can connect to ${ctx.host}${opts.user ? '' : ' (no login was tried: pass --user to test credentials)'}.`,
      remediation: 'Nothing to fix. Review the warnings, if any, before migrating.',
    };
    const target: DiagnoseTarget = {
      host: ctx.host, port: ctx.port, security: opts.security, user: opts.user ?? null, authzid: opts.authzid ?? null,
      servername: opts.servername ?? null, timeoutMs: ctx.timeoutMs, minTlsVersion: opts.minTlsVersion ?? null,
      ciphers: opts.ciphers ?? null, customCa: Boolean(opts.ca),
    };
    return {
      target,
      ok: f === null,
      failedStep: f?.step ?? null,
      verdict: v,
      exitCode: exitCodeForVerdict(v),
      steps,
      totalMs: Math.round(performance.now() - started),
    };
  }
}

interface LoginAttempt {
  ok: boolean;
  method: string;
  text: string;
  code: string | null;
  classified: DiagnoseCode;
  timeout: boolean;
  capabilities: string[] | null;
}

async function login(ctx: Ctx, wire: ImapWire, user: string, password: string, authzid: string | undefined, caps: string[]): Promise<LoginAttempt> {
  let method = 'LOGIN';
  try {
    let res;
    if (authzid) {
      method = 'AUTHENTICATE PLAIN';
      if (!caps.includes('AUTH=PLAIN')) {
        return { ok: false, method, text: 'the server does not offer AUTH=PLAIN, which admin impersonation with an authorization identity needs', code: null, classified: 'AUTH_IMPERSONATION_DENIED', timeout: false, capabilities: null };
      }
      const payload = Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
      if (caps.includes('SASL-IR')) {
        res = await wire.command(['AUTHENTICATE', 'PLAIN', payload], 'AUTHENTICATE');
      } else {
        res = await wire.commandWithContinuations('AUTHENTICATE PLAIN', [payload], 'AUTHENTICATE');
      }
    } else {
      const u = quoteString(user);
      const p = quoteString(password);
      res = await wire.command(['LOGIN', u ?? { literal: user }, p ?? { literal: password }], 'LOGIN');
    }
    const all = [...res.untagged, res.tagged];
    const ok = res.tagged.kind === 'OK';
    const capabilities = ok ? capabilitiesFrom(all) : null;
    return {
      ok, method, text: res.tagged.text, code: res.tagged.code,
      classified: ok ? 'AUTH_FAILED' : classifyLoginFailure({ code: res.tagged.code, text: [res.tagged.text, ...res.untagged.filter((l) => l.kind === 'NO' || l.kind === 'BYE').map((l) => l.text)].join(' ') }),
      timeout: false,
      capabilities: capabilities && capabilities.length > 0 ? capabilities : null,
    };
  } catch (err) {
    if (err instanceof WireError) {
      if (err.kind === 'timeout') return { ok: false, method, text: err.message, code: null, classified: 'CONN_TIMEOUT', timeout: true, capabilities: null };
      // Servers that enforce connection limits often answer the login with "* BYE …" and hang up.
      const text = err.bye?.text ?? err.message;
      return { ok: false, method, text, code: err.bye?.code ?? null, classified: classifyLoginFailure({ code: err.bye?.code ?? null, text }), timeout: false, capabilities: null };
    }
    throw err;
  }
}

async function retryAsAdmin(ctx: Ctx, address: string, admin: string, password: string): Promise<boolean> {
  let sess: Session | null = null;
  try {
    sess = await openSession(ctx, address);
    const res = await login(ctx, sess.wire, admin, password, undefined, sess.capabilities.map((c) => c.toUpperCase()));
    return res.ok;
  } catch {
    return false;
  } finally {
    if (sess) await sess.wire.close();
  }
}

interface FolderSize {
  path: string;
  messages: number;
  bytes: number | null;
}

async function measureSize(wire: ImapWire, statusSize: boolean): Promise<{ folders: FolderSize[]; messages: number; bytes: number | null; method: string; unreadable: string[] }> {
  const list = await wire.command(['LIST', '""', '"*"']);
  if (list.tagged.kind !== 'OK') throw new Error(`LIST failed: ${list.tagged.text}`);
  const names: string[] = [];
  for (const line of list.untagged.filter((l) => l.kind === 'LIST')) {
    const values = parseValues(line.raw.split(' ').slice(2).join(' '));
    const flags = Array.isArray(values[0]) ? values[0].map((f) => String(f).toLowerCase()) : [];
    const name = values[2];
    if (typeof name === 'string' && !flags.includes('\\noselect') && !flags.includes('\\nonexistent')) names.push(name);
  }
  const folders: FolderSize[] = [];
  const unreadable: string[] = [];
  let messages = 0;
  let bytes: number | null = 0;
  for (const name of names) {
    const quoted = quoteString(name);
    const arg = quoted ?? { literal: name };
    const res = await wire.command(['STATUS', arg, statusSize ? '(MESSAGES SIZE)' : '(MESSAGES)'], 'STATUS');
    const line = res.untagged.find((l) => l.kind === 'STATUS');
    if (res.tagged.kind !== 'OK' || !line) {
      unreadable.push(name);
      continue;
    }
    const values = parseValues(line.raw.split(' ').slice(2).join(' '));
    const attrs = values.find((v) => Array.isArray(v)) as string[] | undefined ?? [];
    const get = (key: string): number | null => {
      const i = attrs.findIndex((a) => typeof a === 'string' && a.toUpperCase() === key);
      return i >= 0 ? Number(attrs[i + 1]) : null;
    };
    const count = get('MESSAGES') ?? 0;
    let size = statusSize ? get('SIZE') : null;
    if (size === null && count > 0) size = await fetchSizes(wire, arg);
    else if (size === null) size = 0;
    folders.push({ path: name, messages: count, bytes: size });
    messages += count;
    bytes = bytes === null || size === null ? null : bytes + size;
  }
  return { folders, messages, bytes, method: statusSize ? 'STATUS SIZE (RFC 8438)' : 'EXAMINE + FETCH RFC822.SIZE', unreadable };
}

/** Without STATUS=SIZE: sum RFC822.SIZE over the folder (read-only EXAMINE, no flags touched). */
async function fetchSizes(wire: ImapWire, folder: string | { literal: string }): Promise<number | null> {
  const ex = await wire.command(['EXAMINE', folder], 'EXAMINE');
  if (ex.tagged.kind !== 'OK') return null;
  const res = await wire.command(['FETCH', '1:*', '(RFC822.SIZE)']);
  if (res.tagged.kind !== 'OK') return null;
  let total = 0;
  for (const line of res.untagged) {
    const m = /RFC822\.SIZE (\d+)/i.exec(line.raw);
    if (line.kind === 'FETCH' && m) total += Number(m[1]);
  }
  return total;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return `${h} h ${m} min`;
}
