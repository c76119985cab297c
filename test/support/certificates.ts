/**
 * Test certificates made with the `openssl` CLI, offline, in a temp dir: a private root CA, an
 * intermediate, and leaves that reproduce each TLS failure of the diagnose suite. Every `certFile` is
 * exactly what the server should SEND (leaf first, then whatever chain is concatenated), because the
 * chain as sent is what diagnose inspects.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServedCertificate {
  /** PEM: the leaf, followed by the chain the server sends (if any). */
  certFile: string;
  keyFile: string;
}

export interface TestCertificates {
  dir: string;
  /** The private root CA (what `--ca` is given to trust the chains below). */
  rootCaFile: string;
  rootCaPem: string;
  intermediateFile: string;
  /** Leaf for localhost/127.0.0.1 signed by the intermediate, sent with the intermediate: valid with --ca root. */
  good: ServedCertificate;
  /** The same leaf sent WITHOUT the intermediate: incomplete chain. */
  missingIntermediate: ServedCertificate;
  /** Leaf for mail.other.example (no localhost), sent with the intermediate: name mismatch. */
  otherName: ServedCertificate;
  /** Leaf for localhost that expired in 2020, sent with the intermediate. */
  expired: ServedCertificate;
  /** Leaf for localhost valid only from 2099, sent with the intermediate. */
  notYetValid: ServedCertificate;
  /** Self-signed leaf for localhost; its own file is what `--ca` needs. */
  selfSigned: ServedCertificate;
  cleanup(): void;
}

const LOCAL_SAN = 'DNS:localhost,IP:127.0.0.1';

function openssl(args: string[], cwd: string): void {
  // stdio ignored on success; on failure execFileSync throws with stderr attached.
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * `openssl ca` is the offline way (OpenSSL 3.0 has no `x509 -not_before`) to give a certificate
 * arbitrary validity dates, past or future. It needs a tiny CA database, created per signing CA.
 */
function caConfig(dir: string, name: string): string {
  const base = join(dir, `${name}-db`);
  execFileSync('mkdir', ['-p', base]);
  writeFileSync(join(base, 'index.txt'), '');
  writeFileSync(join(base, 'serial'), '1000\n');
  const conf = join(dir, `${name}-ca.cnf`);
  writeFileSync(conf, [
    '[ ca ]',
    'default_ca = this_ca',
    '[ this_ca ]',
    `dir = ${base}`,
    'database = $dir/index.txt',
    'serial = $dir/serial',
    'new_certs_dir = $dir',
    'default_md = sha256',
    'policy = any_policy',
    'copy_extensions = copy',
    'unique_subject = no',
    'email_in_dn = no',
    '[ any_policy ]',
    'commonName = supplied',
    'organizationName = optional',
    '[ leaf_ext ]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = serverAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid,issuer',
    '[ ca_ext ]',
    'basicConstraints = critical,CA:TRUE,pathlen:0',
    'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid,issuer',
    '',
  ].join('\n'));
  return conf;
}

function sign(opts: {
  dir: string; conf: string; caCert: string; caKey: string; csr: string; out: string;
  ext: 'leaf_ext' | 'ca_ext'; start?: string; end?: string; days?: number;
}): void {
  const args = ['ca', '-batch', '-notext', '-config', opts.conf, '-cert', opts.caCert, '-keyfile', opts.caKey,
    '-in', opts.csr, '-out', opts.out, '-extensions', opts.ext];
  if (opts.start) args.push('-startdate', opts.start);
  if (opts.end) args.push('-enddate', opts.end);
  else args.push('-days', String(opts.days ?? 30));
  openssl(args, opts.dir);
}

function csr(dir: string, key: string, cn: string, san: string | null, out: string): void {
  const args = ['req', '-new', '-key', key, '-subj', `/O=mailshift test/CN=${cn}`, '-out', out];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  openssl(args, dir);
}

function cat(out: string, ...files: string[]): string {
  writeFileSync(out, files.map((f) => readFileSync(f, 'utf8')).join(''));
  return out;
}

/** Generates the whole set (about a second: a handful of EC keys and signatures). */
export function createTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'mailshift-certs-'));
  const p = (name: string): string => join(dir, name);
  // EC keys are fast to generate; OpenSSL (and Dovecot) still negotiate TLS 1.0 ECDHE-ECDSA suites
  // with them, which the legacy-only case needs.
  const genKey = (name: string): string => {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(name)], dir);
    return p(name);
  };

  const rootKey = genKey('root.key');
  openssl(['req', '-x509', '-new', '-key', rootKey, '-sha256', '-days', '3650', '-subj', '/O=mailshift test/CN=mailshift Test Root CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', p('root.pem')], dir);
  const rootConf = caConfig(dir, 'root');

  const interKey = genKey('intermediate.key');
  csr(dir, interKey, 'mailshift Test Intermediate CA', null, p('intermediate.csr'));
  sign({ dir, conf: rootConf, caCert: p('root.pem'), caKey: rootKey, csr: p('intermediate.csr'), out: p('intermediate.pem'), ext: 'ca_ext', days: 3650 });
  const interConf = caConfig(dir, 'intermediate');

  const leafKey = genKey('leaf.key');
  const leaf = (name: string, cn: string, san: string, dates: { start?: string; end?: string; days?: number }): string => {
    csr(dir, leafKey, cn, san, p(`${name}.csr`));
    sign({ dir, conf: interConf, caCert: p('intermediate.pem'), caKey: interKey, csr: p(`${name}.csr`), out: p(`${name}.pem`), ext: 'leaf_ext', ...dates });
    return p(`${name}.pem`);
  };
  const goodLeaf = leaf('localhost', 'localhost', LOCAL_SAN, { days: 365 });
  const otherLeaf = leaf('other', 'mail.other.example', 'DNS:mail.other.example', { days: 365 });
  const expiredLeaf = leaf('expired', 'localhost', LOCAL_SAN, { start: '20190101000000Z', end: '20200101000000Z' });
  const futureLeaf = leaf('future', 'localhost', LOCAL_SAN, { start: '20990101000000Z', end: '20991231000000Z' });

  const selfKey = genKey('self.key');
  openssl(['req', '-x509', '-new', '-key', selfKey, '-sha256', '-days', '365', '-subj', '/O=mailshift test/CN=localhost',
    '-addext', `subjectAltName=${LOCAL_SAN}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-out', p('self.pem')], dir);

  const served = (certFile: string, keyFile = leafKey): ServedCertificate => ({ certFile, keyFile });
  return {
    dir,
    rootCaFile: p('root.pem'),
    rootCaPem: readFileSync(p('root.pem'), 'utf8'),
    intermediateFile: p('intermediate.pem'),
    good: served(cat(p('localhost-chain.pem'), goodLeaf, p('intermediate.pem'))),
    missingIntermediate: served(goodLeaf),
    otherName: served(cat(p('other-chain.pem'), otherLeaf, p('intermediate.pem'))),
    expired: served(cat(p('expired-chain.pem'), expiredLeaf, p('intermediate.pem'))),
    notYetValid: served(cat(p('future-chain.pem'), futureLeaf, p('intermediate.pem'))),
    selfSigned: served(p('self.pem'), selfKey),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * An OpenSSL config for a server process (Dovecot's OPENSSL_CONF) that caps the protocol version:
 * Dovecot 2.3 has ssl_min_protocol but no maximum, so a TLS-1.0-only server is made this way.
 */
export function writeOpensslConf(dir: string, name: string, settings: { maxProtocol?: string; minProtocol?: string; cipherString?: string }): string {
  const file = join(dir, `${name}-openssl.cnf`);
  writeFileSync(file, [
    'openssl_conf = openssl_init',
    '[openssl_init]',
    'ssl_conf = ssl_sect',
    '[ssl_sect]',
    'system_default = system_default_sect',
    '[system_default_sect]',
    settings.minProtocol ? `MinProtocol = ${settings.minProtocol}` : '',
    settings.maxProtocol ? `MaxProtocol = ${settings.maxProtocol}` : '',
    settings.cipherString ? `CipherString = ${settings.cipherString}` : '',
    '',
  ].join('\n'));
  return file;
}
