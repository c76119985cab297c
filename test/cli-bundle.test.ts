import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './support/cli.js';

const DIST = join(import.meta.dirname, '..', 'dist');

test('the migrate bundle leaves out what imapflow loads but migrate never uses; its iconv-lite is the modified UTF-7 stand-in', async () => {
  const help = await runCli(['migrate', '--help']);
  assert.equal(help.code, 0, help.stderr);
  const bundle = readFileSync(join(DIST, 'migrate.mjs'), 'utf8');
  // Each is defined only inside the package named (iconv-lite's double-byte codecs, the
  // encoding-japanese tables, libmime's class, pino's writer, socks' error type).
  for (const [pkg, marker] of [['iconv-lite', 'DBCSCodec'], ['encoding-japanese', 'JIS_TO_UTF8_TABLE'], ['libmime', 'exports.Libmime'], ['pino', 'SonicBoom'], ['socks', 'SocksClientError']]) {
    assert.ok(!bundle.includes(marker!), `${pkg} is in the migrate bundle`);
  }
  // The stand-in for iconv-lite converts mailbox names itself (test/imapflow-iconv.test.ts); the
  // migrate tests copy non-ASCII folder names through this bundle.
  assert.ok(bundle.includes('utf7imap'));
  assert.ok(bundle.length < 1_000_000, `migrate bundle is ${bundle.length} bytes`);
});
