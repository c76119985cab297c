import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CATALOG, EXIT_CODES } from '../src/domain/errors.ts';
import { ERROR_DOCS_PATH, renderErrorDocs } from '../scripts/gen-error-docs.ts';

describe('docs/errors.md', () => {
  it('is up to date with the error catalog (run `npm run docs:errors` to regenerate)', () => {
    const committed = readFileSync(ERROR_DOCS_PATH, 'utf8');
    assert.equal(committed, renderErrorDocs(), 'docs/errors.md is stale: run `npm run docs:errors` and commit the result');
  });

  it('has one table row per catalog code and per exit code', () => {
    const doc = renderErrorDocs();
    for (const code of Object.keys(ERROR_CATALOG)) {
      assert.match(doc, new RegExp(`^\\| \`${code}\` \\|`, 'm'), code);
    }
    for (const exit of Object.values(EXIT_CODES)) {
      assert.match(doc, new RegExp(`^\\| ${exit} \\| \\S`, 'm'), `exit code ${exit}`);
    }
  });

  it('keeps every table row on one line with five cells', () => {
    const rows = renderErrorDocs().split('\n').filter((l) => /^\| `[A-Z_]+` \|/.test(l));
    assert.equal(rows.length, Object.keys(ERROR_CATALOG).length);
    for (const row of rows) {
      const cells = row.split(/(?<!\\)\|/).slice(1, -1);
      assert.equal(cells.length, 5, row);
    }
  });
});

describe('error catalog', () => {
  it('gives every entry a non-empty message and remediation', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      assert.ok(spec.message.trim().length > 0, `${code} has an empty message`);
      assert.ok(spec.remediation.trim().length > 0, `${code} has an empty remediation`);
    }
  });

  it('uses SCREAMING_SNAKE codes', () => {
    for (const code of Object.keys(ERROR_CATALOG)) assert.match(code, /^[A-Z]+(_[A-Z0-9]+)*$/, code);
  });
});
