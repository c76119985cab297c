/**
 * Throw-away Dovecot 2.3 instances for tests, the demo and benchmarks.
 *
 * Each instance lives in its own short temp dir (/tmp/ms-<name>-XXXXXX) with its own config,
 * base_dir, state_dir, passwd-files, maildirs and log, listens only on 127.0.0.1 high ports, and
 * is started and stopped by its own master pid. Nothing under /etc/dovecot or systemd is touched,
 * so any number of instances (and parallel test processes) can run side by side.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, constants as fsConstants } from 'node:fs';
import { access, chmod, chown, copyFile, mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestbedUser {
  /** Login name; may be an e-mail address. Stored lower-cased: Dovecot 2.3 lower-cases logins (auth_username_format = %Lu). */
  user: string;
  password: string;
  /** Storage quota in bytes; absent = unlimited. */
  quotaBytes?: number;
}

/** PEM leaf (+ any chain the server should SEND, concatenated) and its key. */
export interface TestbedTls { certFile: string; keyFile: string }

export interface DovecotOptions {
  /** Label used in the temp dir name and logs. */
  name: string;
  /** Which special-use folders are auto-created (and subscribed) for every user. */
  folderStyle: 'dovecot' | 'exchange';
  users: TestbedUser[];
  /** Hierarchy separator of the personal namespace; default '/'. */
  separator?: '/' | '.';
  /** 'mailadmin' => 'alice@example.com*mailadmin' and SASL PLAIN authzid=alice both log in as alice. */
  masterUser?: { user: string; password: string };
  /** Default: a generated self-signed cert for CN=localhost, SAN DNS:localhost, IP:127.0.0.1. */
  tls?: TestbedTls;
  /** true => LOGINDISABLED (and no AUTH=) on the plain port until STARTTLS. Default false. */
  disablePlaintextAuth?: boolean;
  /** mail_max_userip_connections; default 200 (Dovecot's 10 is too low for parallel copies). */
  maxUserIpConnections?: number;
  /** Dovecot ssl_min_protocol, e.g. 'TLSv1'. */
  sslMinProtocol?: string;
  /** Dovecot ssl_cipher_list. */
  sslCipherList?: string;
  /** Exported to Dovecot's processes as OPENSSL_CONF (e.g. to cap MaxProtocol for a TLS-1.0-only server). */
  opensslConf?: string;
  /** Appended verbatim to dovecot.conf. */
  extraConfig?: string;
  /**
   * Directory the server's own directory (config, mail, state) is created in; default /tmp. The
   * benchmark can use /dev/shm: on disk, Dovecot spends most of its time in ext4's inode allocator
   * after many recent deletes, which varies with the disk's history (docs/performance.md).
   */
  dataRoot?: string;
  /** Offer COMPRESS=DEFLATE (RFC 4978, Dovecot's imap_zlib plugin). Default false. */
  compress?: boolean;
}

export interface DovecotServer {
  readonly name: string;
  readonly host: '127.0.0.1';
  /** Plain IMAP; STARTTLS offered. */
  readonly imapPort: number;
  /** Implicit TLS. */
  readonly imapsPort: number;
  /** PEM file a client must trust: the self-signed default cert, or options.tls.certFile. */
  readonly caFile: string;
  readonly caPem: string;
  /** The instance's temp dir. */
  readonly dir: string;
  readonly separator: '/' | '.';
  /** True when LOGIN/AUTHENTICATE need TLS first (options.disablePlaintextAuth). */
  readonly loginRequiresTls: boolean;
  /** Dovecot's own log (log_path); read it when a test fails. */
  readonly logFile: string;
  /** Pid of this instance's Dovecot master process. */
  readonly pid: number;
  /** Appends to the passwd-file; Dovecot re-reads it on the next login (no restart). Takes up to 1 s (see writePasswd). */
  addUser(user: TestbedUser): Promise<void>;
  /** null removes the limit. Applies to sessions that log in afterwards; takes up to 1 s. */
  setUserQuota(user: string, quotaBytes: number | null): Promise<void>;
  /** Stops only this instance (master and all its children) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
/*
 * Dovecot treats a connection whose remote IP equals its local IP as "secured" and then never
 * advertises LOGINDISABLED. On loopback that is every connection, so an instance with
 * disablePlaintextAuth is fronted by a relay that dials Dovecot from this other loopback address.
 */
const UNTRUSTED_SOURCE = '127.0.0.2';
const VMAIL_USER = 'mailshift-vmail';
const MARKER_FILE = '.mailshift-testbed';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

const SPECIAL_FOLDERS: Record<DovecotOptions['folderStyle'], ReadonlyArray<readonly [string, string]>> = {
  dovecot: [['Sent', '\\Sent'], ['Trash', '\\Trash'], ['Junk', '\\Junk'], ['Drafts', '\\Drafts']],
  exchange: [['Sent Items', '\\Sent'], ['Deleted Items', '\\Trash'], ['Junk Email', '\\Junk'], ['Drafts', '\\Drafts'], ['Archive', '\\Archive']],
};

interface Ids { uid: number; gid: number }
interface SystemIds { vmail: Ids; dovecotGid: number }

// ---------------------------------------------------------------- process-wide registry & cleanup

const running = new Set<Instance>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // A test that crashes or forgets stop() must not leave daemons behind holding ports and /tmp space.
  process.on('exit', stopAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      stopAllSync();
      // Only re-raise when nobody else handles the signal, so an app's own graceful shutdown still runs.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function stopAllSync(): void {
  for (const instance of running) instance.killSync();
  running.clear();
}

/** Stops every instance this process started. */
export async function stopAllDovecots(): Promise<void> {
  await Promise.all([...running].map((instance) => instance.stop()));
}

// ---------------------------------------------------------------- system prerequisites

let systemIdsPromise: Promise<SystemIds> | undefined;

function systemIds(): Promise<SystemIds> {
  systemIdsPromise ??= resolveSystemIds().catch((error: unknown) => {
    systemIdsPromise = undefined;
    throw error;
  });
  return systemIdsPromise;
}

async function lookupIds(name: string): Promise<Ids | null> {
  try {
    const [u, g] = await Promise.all([execFileP('id', ['-u', name]), execFileP('id', ['-g', name])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  } catch {
    return null;
  }
}

async function resolveSystemIds(): Promise<SystemIds> {
  if (process.getuid?.() !== 0) {
    throw new Error('The Dovecot test bed must run as root (Dovecot drops privileges to its own users and the mail user).');
  }
  await findDovecotBinary();
  const dovecotIds = await lookupIds('dovecot');
  const dovenull = await lookupIds('dovenull');
  if (!dovecotIds || !dovenull) {
    throw new Error("System users 'dovecot'/'dovenull' are missing: install dovecot-imapd (scripts/install-system-deps.sh).");
  }
  return { vmail: await ensureVmailUser(), dovecotGid: dovecotIds.gid };
}

async function ensureVmailUser(): Promise<Ids> {
  // Parallel test processes race to create the user: useradd then fails on the passwd lock or
  // "already exists", so the loop re-checks instead of trusting useradd's exit status.
  for (let attempt = 0; attempt < 40; attempt++) {
    const ids = await lookupIds(VMAIL_USER);
    if (ids) return ids;
    try {
      await execFileP('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent',
        '--shell', '/usr/sbin/nologin', '--comment', 'mailshift test bed mail owner', VMAIL_USER]);
    } catch {
      await sleep(50 + 10 * attempt);
    }
  }
  throw new Error(`Could not create system user ${VMAIL_USER} (useradd kept failing).`);
}

let dovecotBinary: string | undefined;

async function findDovecotBinary(): Promise<string> {
  if (dovecotBinary) return dovecotBinary;
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'dovecot');
    try {
      await access(candidate, fsConstants.X_OK);
      dovecotBinary = candidate;
      return candidate;
    } catch { /* next */ }
  }
  throw new Error('dovecot binary not found: install dovecot-imapd (scripts/install-system-deps.sh).');
}

// ---------------------------------------------------------------- default certificate

let defaultCertPromise: Promise<{ certPem: string; keyPem: string }> | undefined;

function defaultCert(): Promise<{ certPem: string; keyPem: string }> {
  // RSA key generation costs ~0.1-0.5 s; one cert per process is plenty for test servers.
  defaultCertPromise ??= (async () => {
    const dir = await mkdtemp('/tmp/ms-cert-');
    try {
      await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
      return { certPem: await readFile(join(dir, 'cert.pem'), 'utf8'), keyPem: await readFile(join(dir, 'key.pem'), 'utf8') };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })().catch((error: unknown) => {
    defaultCertPromise = undefined;
    throw error;
  });
  return defaultCertPromise;
}

// ---------------------------------------------------------------- stale instances of dead processes

/** Directories already searched for orphans by this process. */
const reaped = new Set<string>();

/**
 * Removes instances whose owning process died without cleanup (SIGKILL, OOM). Only dirs carrying
 * our marker, whose owner pid is gone and whose master pid still runs our own config, are touched.
 */
function reapOrphans(root: string): void {
  if (reaped.has(root)) return;
  reaped.add(root);
  let entries: string[];
  try {
    entries = readdirSync(root).filter((entry) => entry.startsWith('ms-'));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(root, entry);
    try {
      const marker = readFileSync(join(dir, MARKER_FILE), 'utf8');
      const owner = Number(/owner=(\d+)/.exec(marker)?.[1]);
      if (!owner || isAlive(owner)) continue;
      let master = 0;
      try {
        master = Number(readFileSync(join(dir, 'run', 'master.pid'), 'utf8').trim());
        if (!readFileSync(`/proc/${master}/cmdline`, 'utf8').includes(join(dir, 'dovecot.conf'))) master = 0;
      } catch { /* master gone */ }
      for (const pid of instanceProcesses(dir, master || null)) signal(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch { /* not ours, or already gone */ }
  }
}

// ---------------------------------------------------------------- helpers

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Like Promise.race with a sleep, but the timer does not outlive the race (and hold the process open). */
function within(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and not a zombie: re-parented children may wait a while for init (or a container's pid 1) to reap them. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch { /* already gone */ }
}

/**
 * The master and every process it forked. Children re-parent to init once the master exits, so
 * they are also recognised by where they live: Dovecot services run with cwd (or chroot) in base_dir.
 */
function instanceProcesses(dir: string, masterPid: number | null): number[] {
  const parents = new Map<number, number>();
  const found = new Set<number>();
  let pids: number[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);
  } catch {
    return masterPid ? [masterPid] : [];
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(pid, ppid);
      for (const link of ['cwd', 'root']) {
        const target = readlinkSync(`/proc/${pid}/${link}`);
        if (target === dir || target.startsWith(dir + '/')) found.add(pid);
      }
    } catch { /* exited meanwhile, or not readable */ }
  }
  if (masterPid) {
    found.add(masterPid);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (!found.has(pid) && found.has(ppid)) {
          found.add(pid);
          grew = true;
        }
      }
    }
  }
  found.delete(process.pid);
  return [...found];
}

function freePorts(count: number): Promise<number[]> {
  // All listeners stay open until every port is read, so the ports are distinct.
  return new Promise((resolve, reject) => {
    const servers: net.Server[] = [];
    const ports: number[] = [];
    const done = (error?: Error) => {
      let closed = 0;
      for (const server of servers) {
        server.close(() => {
          if (++closed === servers.length) {
            if (error) reject(error);
            else resolve(ports);
          }
        });
      }
      if (servers.length === 0 && error) reject(error);
    };
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      server.unref();
      servers.push(server);
      server.once('error', (error) => done(error));
      server.listen(0, HOST, () => {
        ports.push((server.address() as net.AddressInfo).port);
        if (ports.length === count) done();
      });
    }
  });
}

function tailOf(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Resolves once a greeting starting with '* OK' arrives, rejects on anything else. */
function greeting(port: number, secure: boolean, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = secure
      // Readiness only: certificate and protocol policy are the business of the tests that use the
      // server, and a TLS-1.0-only instance must count as up too.
      ? tls.connect({ host: HOST, port, rejectUnauthorized: false, servername: 'localhost', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' })
      : net.connect({ host: HOST, port });
    let buffer = '';
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error('no greeting')), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (!buffer.includes('\n')) return;
      if (buffer.startsWith('* OK')) finish();
      else finish(new Error(`unexpected greeting: ${buffer.trim()}`));
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error('closed before greeting')));
  });
}

function checkUser(user: TestbedUser): void {
  for (const [field, value] of [['user', user.user], ['password', user.password]] as const) {
    if (!value || /[:\r\n\t]/.test(value)) throw new Error(`Test bed ${field} must be non-empty without ':' or line breaks: ${JSON.stringify(value)}`);
  }
  if (user.user.includes('*')) throw new Error(`'*' is the master-user separator and cannot appear in a user name: ${user.user}`);
  if (/\s/.test(user.user)) throw new Error(`User names with whitespace are not supported: ${JSON.stringify(user.user)}`);
  if (user.quotaBytes !== undefined) checkQuota(user.quotaBytes);
}

function checkQuota(quotaBytes: number): void {
  // storage=0 means "unlimited" to Dovecot, which would silently invert the caller's intent.
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 1) throw new Error(`quotaBytes must be a positive integer, got ${quotaBytes}`);
}

// ---------------------------------------------------------------- config

interface ConfigInput {
  dir: string;
  options: DovecotOptions;
  vmail: Ids;
  imapPort: number;
  imapsPort: number;
  separator: '/' | '.';
}

function quoteName(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function renderConfig({ dir, options, vmail, imapPort, imapsPort, separator }: ConfigInput): string {
  const mailboxes = SPECIAL_FOLDERS[options.folderStyle].map(([name, use]) =>
    `  mailbox ${quoteName(name)} {\n    special_use = ${use}\n    auto = subscribe\n  }`).join('\n');
  const optional = [
    options.sslMinProtocol ? `ssl_min_protocol = ${options.sslMinProtocol}` : '',
    options.sslCipherList ? `ssl_cipher_list = ${options.sslCipherList}` : '',
    // Replacing import_environment drops Dovecot's defaults, so they are repeated.
    options.opensslConf ? `import_environment = TZ CORE_OUTOFMEM CORE_ERROR OPENSSL_CONF=${options.opensslConf}` : '',
  ].filter(Boolean).join('\n');
  const masterPassdb = options.masterUser ? `
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/master-users
  master = yes
  # continue = the impersonated user must also exist in the normal passdb
  result_success = continue
}` : '';
  return `# Generated by mailshift's test bed for instance '${options.name}'. Not for production use.
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = mailshift-${options.name}
log_path = ${dir}/dovecot.log
auth_verbose = yes
protocols = imap
listen = ${HOST}
shutdown_clients = yes

ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
${optional}

disable_plaintext_auth = ${options.disablePlaintextAuth ? 'yes' : 'no'}
auth_mechanisms = plain login
auth_master_user_separator = *
# Every test connection comes from 127.0.0.1: Dovecot's per-IP auth penalty would make one
# wrong-password test slow down every later login by up to 15 s, and the failure delay adds 2 s each.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
${masterPassdb}
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${dir}/users
}
userdb {
  driver = passwd-file
  args = ${dir}/users
}

first_valid_uid = ${vmail.uid}
last_valid_uid = ${vmail.uid}
first_valid_gid = ${vmail.gid}
last_valid_gid = ${vmail.gid}
mail_uid = ${vmail.uid}
mail_gid = ${vmail.gid}
mail_home = ${dir}/mail/%u
# LAYOUT=index keeps folder names out of file names: any name (with '.', "cur", emoji) works
# with either separator, as on real servers.
mail_location = maildir:~/Maildir:LAYOUT=index
# Throw-away data: durability is not worth the fsync latency.
mail_fsync = never
mail_plugins = $mail_plugins quota
plugin {
  quota = count:User quota
  quota_vsizes = yes
}

namespace inbox {
  inbox = yes
  prefix =
  separator = ${separator}
${mailboxes}
}

service imap-login {
  inet_listener imap {
    port = ${imapPort}
  }
  inet_listener imaps {
    port = ${imapsPort}
    ssl = yes
  }
}
protocol imap {
  mail_max_userip_connections = ${options.maxUserIpConnections ?? 200}
  mail_plugins = $mail_plugins imap_quota${options.compress ? ' imap_zlib' : ''}
}
${options.extraConfig ?? ''}
`;
}

function passwdLine(user: TestbedUser, vmail: Ids): string {
  const extra = user.quotaBytes !== undefined ? `userdb_quota_rule=*:storage=${user.quotaBytes}B` : '';
  return `${user.user}:{PLAIN}${user.password}:${vmail.uid}:${vmail.gid}::::${extra}\n`;
}

// ---------------------------------------------------------------- the instance

class Instance implements DovecotServer {
  readonly host = HOST;
  imapPort = 0;
  imapsPort = 0;
  pid = 0;
  caFile = '';
  caPem = '';
  private child: ChildProcess | null = null;
  exited: Promise<void> = Promise.resolve();
  private relay: net.Server | null = null;
  private readonly relaySockets = new Set<net.Socket>();
  private readonly users = new Map<string, TestbedUser>();
  private passwdStamp = 0;
  private stopping: Promise<void> | null = null;

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly separator: '/' | '.',
    readonly loginRequiresTls: boolean,
    private readonly ids: SystemIds,
  ) {}

  get logFile(): string {
    return join(this.dir, 'dovecot.log');
  }

  private get stderrFile(): string {
    return join(this.dir, 'dovecot.stderr');
  }

  logTail(): string {
    return [tailOf(this.stderrFile), tailOf(this.logFile)].filter(Boolean).join('\n');
  }

  async addUser(user: TestbedUser): Promise<void> {
    checkUser(user);
    const key = user.user.toLowerCase();
    if (this.users.has(key)) throw new Error(`User ${user.user} already exists on test bed '${this.name}'`);
    this.users.set(key, { ...user, user: key });
    await this.writePasswd();
  }

  async seedUsers(users: readonly TestbedUser[]): Promise<void> {
    for (const user of users) {
      const key = user.user.toLowerCase();
      if (this.users.has(key)) throw new Error(`Duplicate test bed user ${user.user}`);
      this.users.set(key, { ...user, user: key });
    }
    await this.writePasswd();
  }

  async setUserQuota(user: string, quotaBytes: number | null): Promise<void> {
    const key = user.toLowerCase();
    const existing = this.users.get(key);
    if (!existing) throw new Error(`No user ${user} on test bed '${this.name}'`);
    if (quotaBytes !== null) checkQuota(quotaBytes);
    const { quotaBytes: _old, ...rest } = existing;
    this.users.set(key, quotaBytes === null ? rest : { ...rest, quotaBytes });
    await this.writePasswd();
  }

  async writePasswd(): Promise<void> {
    const file = join(this.dir, 'users');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, [...this.users.values()].map((u) => passwdLine(u, this.ids.vmail)).join(''), { mode: 0o640 });
    await chown(tmp, 0, this.ids.dovecotGid);
    // Dovecot reloads a passwd-file when its mtime (whole seconds) or size changes; two rewrites of
    // equal size within one second would go unnoticed, so every rewrite gets a later mtime.
    this.passwdStamp = Math.max(Math.floor(Date.now() / 1000), this.passwdStamp + 1);
    await utimes(tmp, this.passwdStamp, this.passwdStamp);
    await rename(tmp, file);
    // Dovecot stats the file at most once per wall-clock second (on lookups); one may already have
    // happened in this second, so the change is only guaranteed visible from the next second on.
    if (this.pid) await sleep(1000 - (Date.now() % 1000) + 20);
  }

  async writeMasterUsers(master: { user: string; password: string }): Promise<void> {
    checkUser(master);
    const file = join(this.dir, 'master-users');
    await writeFile(file, `${master.user.toLowerCase()}:{PLAIN}${master.password}\n`, { mode: 0o640 });
    await chown(file, 0, this.ids.dovecotGid);
  }

  async launch(binary: string, env: NodeJS.ProcessEnv): Promise<void> {
    await writeFile(this.stderrFile, '');
    const fd = openSync(this.stderrFile, 'a');
    try {
      // -F keeps the master as our direct child, so its pid is the one we stop; stdio goes to a file
      // because a pipe nobody reads (e.g. CI capturing output) would eventually block the daemon.
      this.child = spawn(binary, ['-F', '-c', join(this.dir, 'dovecot.conf')], { stdio: ['ignore', fd, fd], env, cwd: this.dir });
    } finally {
      closeSync(fd);
    }
    const child = this.child;
    this.pid = child.pid ?? 0;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.once('error', () => { /* surfaced by waitReady via the exit promise */ });
    // The test process may exit without stop(); the exit hook then kills the daemon.
    child.unref();
  }

  get hasExited(): boolean {
    return !this.child || this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async waitReady(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      if (this.hasExited) throw new StartError(`Dovecot '${this.name}' exited during startup`, this.logTail());
      try {
        await greeting(this.imapPort, false);
        await greeting(this.imapsPort, true).catch((error: NodeJS.ErrnoException) => {
          // Anything but a refused connection means the listener is up and a login process took it
          // (e.g. a handshake our OpenSSL will not do with a deliberately weak server).
          if (error.code === 'ECONNREFUSED' || /no greeting/.test(error.message)) throw error;
        });
        return;
      } catch (error) {
        lastError = error;
        await sleep(50);
      }
    }
    throw new StartError(`Dovecot '${this.name}' did not answer on ports ${this.imapPort}/${this.imapsPort} within ${START_TIMEOUT_MS} ms (${String(lastError)})`, this.logTail());
  }

  async startRelay(port: number, upstreamPort: number): Promise<void> {
    const relay = net.createServer((downstream) => {
      this.relaySockets.add(downstream);
      const upstream = net.connect({ host: HOST, port: upstreamPort, localAddress: UNTRUSTED_SOURCE });
      this.relaySockets.add(upstream);
      downstream.setNoDelay(true);
      upstream.setNoDelay(true);
      downstream.pipe(upstream);
      upstream.pipe(downstream);
      const close = () => {
        downstream.destroy();
        upstream.destroy();
        this.relaySockets.delete(downstream);
        this.relaySockets.delete(upstream);
      };
      downstream.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    relay.unref();
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(port, HOST, () => {
        relay.off('error', reject);
        resolve();
      });
    });
    this.relay = relay;
  }

  closeRelay(): void {
    this.relay?.close();
    this.relay = null;
    for (const socket of this.relaySockets) socket.destroy();
    this.relaySockets.clear();
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    running.delete(this);
    this.closeRelay();
    const before = instanceProcesses(this.dir, this.hasExited ? null : this.pid);
    for (const pid of before) signal(pid, 'SIGTERM');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    await within(this.exited, STOP_TIMEOUT_MS);
    // The master signals its children but does not wait for them; wait until each one is gone.
    let remaining = [...new Set([...before, ...instanceProcesses(this.dir, null)])].filter(isRunning);
    while (remaining.length > 0 && Date.now() < deadline) {
      await sleep(25);
      remaining = remaining.filter(isRunning);
    }
    for (const pid of remaining) signal(pid, 'SIGKILL');
    await rm(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }

  killSync(): void {
    this.closeRelay();
    for (const pid of instanceProcesses(this.dir, this.hasExited ? null : this.pid)) signal(pid, 'SIGKILL');
    try {
      // Killed processes may still be writing their last log lines: retry ENOTEMPTY.
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch { /* best effort at exit */ }
  }
}

class StartError extends Error {
  constructor(message: string, readonly logTail: string) {
    super(logTail ? `${message}\n--- dovecot log (tail) ---\n${logTail}` : message);
  }
}

// ---------------------------------------------------------------- entry point

export async function startDovecot(options: DovecotOptions): Promise<DovecotServer> {
  const ids = await systemIds();
  const binary = await findDovecotBinary();
  for (const user of options.users) checkUser(user);
  installExitHooks();
  // Both usual homes, whichever this run uses: an orphan in /dev/shm holds memory until reaped.
  for (const root of new Set(['/tmp', '/dev/shm', options.dataRoot ?? '/tmp'])) reapOrphans(root);

  const label = options.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 16) || 'x';
  // Short paths: Dovecot's unix sockets under base_dir must stay within 108 bytes.
  const dir = await mkdtemp(join(options.dataRoot ?? '/tmp', `ms-${label}-`));
  await chmod(dir, 0o755);
  const separator = options.separator ?? '/';
  const instance = new Instance(options.name, dir, separator, options.disablePlaintextAuth === true, ids);
  running.add(instance);
  try {
    await writeFile(join(dir, MARKER_FILE), `owner=${process.pid}\n`);
    await mkdir(join(dir, 'mail'), { mode: 0o755 });
    await chown(join(dir, 'mail'), ids.vmail.uid, ids.vmail.gid);
    await mkdir(join(dir, 'state'), { mode: 0o755 });

    if (options.tls) {
      await copyFile(options.tls.certFile, join(dir, 'cert.pem'));
      await copyFile(options.tls.keyFile, join(dir, 'key.pem'));
      instance.caFile = options.tls.certFile;
      instance.caPem = await readFile(options.tls.certFile, 'utf8');
    } else {
      const { certPem, keyPem } = await defaultCert();
      await writeFile(join(dir, 'cert.pem'), certPem, { mode: 0o644 });
      await writeFile(join(dir, 'key.pem'), keyPem, { mode: 0o600 });
      instance.caFile = join(dir, 'cert.pem');
      instance.caPem = certPem;
    }
    await chmod(join(dir, 'key.pem'), 0o600);

    await instance.seedUsers(options.users);
    if (options.masterUser) await instance.writeMasterUsers(options.masterUser);

    const env: NodeJS.ProcessEnv = { ...process.env };
    if (options.opensslConf) env.OPENSSL_CONF = options.opensslConf;

    // Ports probed free can be taken by someone else before Dovecot binds them: retry with fresh ones.
    for (let attempt = 1; ; attempt++) {
      const useRelay = options.disablePlaintextAuth === true;
      const ports = await freePorts(useRelay ? 3 : 2);
      const [publicImap, imaps, internalImap] = ports as [number, number, number | undefined];
      const dovecotImap = useRelay ? internalImap! : publicImap;
      instance.imapPort = publicImap;
      instance.imapsPort = imaps;
      await writeFile(join(dir, 'dovecot.conf'), renderConfig({ dir, options, vmail: ids.vmail, imapPort: dovecotImap, imapsPort: imaps, separator }));
      await writeFile(instance.logFile, '');
      await rm(join(dir, 'run'), { recursive: true, force: true });
      if (useRelay) await instance.startRelay(publicImap, dovecotImap);
      await instance.launch(binary, env);
      try {
        await instance.waitReady();
        return instance;
      } catch (error) {
        instance.closeRelay();
        if (!instance.hasExited) {
          signal(instance.pid, 'SIGTERM');
          await within(instance.exited, STOP_TIMEOUT_MS);
        }
        if (attempt < 5 && /Address already in use/.test(instance.logTail())) continue;
        throw error;
      }
    }
  } catch (error) {
    await instance.stop();
    throw error;
  }
}

/** True when the Dovecot binary and the system users the test bed needs are present (for skipping tests). */
export function dovecotAvailable(): boolean {
  return process.getuid?.() === 0 && ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].some((p) => existsSync(p));
}
