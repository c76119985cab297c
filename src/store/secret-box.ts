/**
 * Secrets at rest (endpoint admin passwords): AES-256-GCM with a random 96-bit IV per value.
 *
 * The key comes from MAILSHIFT_SECRET_KEY (32 bytes as 64 hex characters or base64), else from
 * `secret.key` next to the state database, generated on first use with mode 0600. A key file that
 * group or others may read is refused rather than used: the file is what protects every stored
 * password, and a world-readable copy is as good as plaintext.
 *
 * Ciphertext format (text, so it fits a portable TEXT column):
 *   v1:<keyId>:<iv>:<tag>:<data>        (iv, tag, data base64; keyId = 8 hex chars of SHA-256(key))
 * The key id lets a decryption failure say "the key changed" instead of "corrupted data". The
 * additional authenticated data (`purpose`) binds a value to where it is stored, so a ciphertext
 * copied into another column does not decrypt.
 *
 * Nothing here ever puts a plaintext or a key in an error message.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MailshiftError } from '../domain/errors.js';

export const SECRET_KEY_ENV = 'MAILSHIFT_SECRET_KEY';
export const SECRET_KEY_FILE_NAME = 'secret.key';
const FORMAT_VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;

export type SecretKeySource = { kind: 'env' } | { kind: 'file'; path: string; created: boolean } | { kind: 'memory' };

export interface SecretBox {
  /** Encrypts `plaintext`; `purpose` is authenticated with it (e.g. "endpoint-admin-password"). */
  encrypt(plaintext: string, purpose: string): string;
  /** Throws SECRET_KEY_MISMATCH when the key differs from the one that encrypted the value. */
  decrypt(ciphertext: string, purpose: string): string;
  /** Where the key comes from (resolves the key: may create the key file). */
  keySource(): SecretKeySource;
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** 64 hex characters, or base64 (standard or URL-safe, padded or not) of exactly 32 bytes. */
export function parseSecretKey(text: string, source: string): Buffer {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    const bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === KEY_BYTES) return bytes;
    throw new MailshiftError('SECRET_KEY_INVALID', { source, detail: `it decodes to ${bytes.length} bytes, not ${KEY_BYTES}` });
  }
  const detail = value === '' ? 'it is empty' : `it is neither 64 hexadecimal characters nor base64 (${value.length} characters)`;
  throw new MailshiftError('SECRET_KEY_INVALID', { source, detail });
}

function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** Reads the key file, refusing one that group or others may read or write. */
function readKeyFile(path: string): Buffer {
  const stat = statSync(path);
  if ((stat.mode & 0o077) !== 0) throw new MailshiftError('SECRET_KEY_FILE_INSECURE', { path, mode: modeText(stat.mode) });
  return parseSecretKey(readFileSync(path, 'utf8'), path);
}

/**
 * Creates the key file atomically: the key is written and fsynced to a private temp file, then
 * hard-linked to its final name, which fails if another process created it first (then theirs
 * wins and is read). A reader never sees a half-written key.
 */
function createKeyFile(path: string): { key: Buffer; created: boolean } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return { key, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { key: readKeyFile(path), created: false };
  } finally {
    unlinkSync(temp);
  }
}

export interface SecretBoxOptions {
  /** The state database path; the key file lives next to it. ':memory:' uses a throw-away key. */
  statePath: string;
  env?: NodeJS.ProcessEnv;
}

export function keyFilePathFor(statePath: string): string {
  return join(dirname(statePath), SECRET_KEY_FILE_NAME);
}

/**
 * The key is resolved lazily, on the first encrypt/decrypt: reading endpoints that need no secret
 * (list, show) works without a key, and a bad MAILSHIFT_SECRET_KEY is reported where it matters.
 */
export function openSecretBox(options: SecretBoxOptions): SecretBox {
  const env = options.env ?? process.env;
  let resolved: { key: Buffer; id: string; source: SecretKeySource } | null = null;

  const resolve = (): { key: Buffer; id: string; source: SecretKeySource } => {
    if (resolved) return resolved;
    const fromEnv = env[SECRET_KEY_ENV];
    let key: Buffer;
    let source: SecretKeySource;
    if (fromEnv !== undefined && fromEnv !== '') {
      key = parseSecretKey(fromEnv, SECRET_KEY_ENV);
      source = { kind: 'env' };
    } else if (options.statePath === ':memory:') {
      key = randomBytes(KEY_BYTES);
      source = { kind: 'memory' };
    } else {
      const path = keyFilePathFor(options.statePath);
      let created = false;
      try {
        key = readKeyFile(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        ({ key, created } = createKeyFile(path));
      }
      source = { kind: 'file', path, created };
    }
    resolved = { key, id: keyIdOf(key), source };
    return resolved;
  };

  const describe = (source: SecretKeySource): string =>
    source.kind === 'env' ? SECRET_KEY_ENV : source.kind === 'file' ? `the key file ${source.path}` : 'a temporary in-memory key';

  return {
    encrypt(plaintext, purpose) {
      const { key, id } = resolve();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(purpose, 'utf8'));
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [FORMAT_VERSION, id, iv.toString('base64'), tag.toString('base64'), data.toString('base64')].join(':');
    },
    decrypt(ciphertext, purpose) {
      const { key, id, source } = resolve();
      const parts = ciphertext.split(':');
      if (parts.length !== 5 || parts[0] !== FORMAT_VERSION) {
        throw new MailshiftError('SECRET_KEY_MISMATCH', { detail: `the stored value is not in a format this version understands (${parts[0] ?? '?'})`, source: describe(source) });
      }
      const [, storedId, ivText, tagText, dataText] = parts as [string, string, string, string, string];
      if (storedId !== id) {
        throw new MailshiftError('SECRET_KEY_MISMATCH', { detail: `it was encrypted with key ${storedId}, the key in use is ${id}`, source: describe(source) });
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64'));
        decipher.setAAD(Buffer.from(purpose, 'utf8'));
        decipher.setAuthTag(Buffer.from(tagText, 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(dataText, 'base64')), decipher.final()]).toString('utf8');
      } catch {
        throw new MailshiftError('SECRET_KEY_MISMATCH', { detail: 'the value failed authentication (altered, or encrypted with another key)', source: describe(source) });
      }
    },
    keySource() {
      return resolve().source;
    },
  };
}
