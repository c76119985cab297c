#!/usr/bin/env node
// Runs the CLI from a checkout. The TypeScript sources and their dependencies are bundled once into
// dist/ with esbuild (about 1 s) and rebuilt whenever a source file is newer than the bundle: one
// bundle per command, so `mailshift migrate` neither parses nor holds the web server, the mailer
// or the other commands (start-up 0.6 s / 90 MB with node_modules loaded module by module, 0.2 s /
// 65 MB bundled), plus dist/mailshift.mjs with every command for `--help`. If bundling is impossible
// (read-only checkout), the sources run through tsx directly.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';

// V8 grows the young generation up to 32 MB under a migration's allocation rate, a fifth of the
// process's memory, while what survives a scavenge there is a few MB: a 1 MB semi-space keeps peak
// RSS ~25 MB lower at no measurable CPU cost (docs/performance.md). Only settable this way at run time.
v8.setFlagsFromString('--semi-space-growth-factor=1');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COMMANDS = {
  migrate: 'registerMigrateCommand',
  verify: 'registerVerifyCommand',
  diagnose: 'registerDiagnoseCommand',
  endpoint: 'registerEndpointCommand',
  batch: 'registerBatchCommand',
  serve: 'registerServeCommand',
};
const command = Object.hasOwn(COMMANDS, process.argv[2] ?? '') ? process.argv[2] : null;
const bundle = join(root, 'dist', `${command ?? 'mailshift'}.mjs`);

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    // This file too: it decides what goes into the bundles.
    const inputs = [join(root, 'package.json'), fileURLToPath(import.meta.url)].map((path) => statSync(path).mtimeMs);
    return statSync(bundle).mtimeMs >= Math.max(newestSource(join(root, 'src')), ...inputs);
  } catch {
    return false;
  }
}

function entrySource(name) {
  if (name === 'mailshift') return `export { main } from './main.js';`;
  const register = COMMANDS[name];
  return `import { runCli } from './run-cli.js';
import { ${register} } from './commands/${name}-command.js';
export const main = (argv) => runCli(argv, [${register}]);`;
}

// imapflow imports these at load time but needs them only for features migrate never uses:
// its default logger (pino), SOCKS proxies, message download and ENVELOPE decoding. In the bundle
// each is a stand-in that loads the real package on first use, from imapflow's location; with
// iconv-lite (mailbox names only, see src/imap/imapflow-iconv.ts) the migrate bundle is 1 MB
// smaller and imports in ~55 ms instead of ~115 ms, and listing a non-ASCII folder name no longer
// sets up iconv-lite's encodings (~23 ms) (docs/performance.md).
const LOADED_ON_USE = { pino: [], socks: ['SocksClient'], libmime: [], 'encoding-japanese': [], '@zone-eu/mailsplit': ['Headers'], '@zone-eu/mailsplit/lib/flowed-decoder.js': [], libqp: [], libbase64: [] };

function loadedOnUse(name) {
  const stand = (pick) => `new Proxy(function () {}, {
  get: (_, key) => Reflect.get(${pick}, key),
  apply: (_, self, args) => Reflect.apply(${pick}, self, args),
  construct: (_, args) => Reflect.construct(${pick}, args),
})`;
  return `import { createRequire } from 'node:module';
let loaded = null;
const real = () => (loaded ??= createRequire(createRequire(import.meta.url).resolve('imapflow'))(${JSON.stringify(name)}));
export default ${stand('real()')};
${LOADED_ON_USE[name].map((key) => `export const ${key} = ${stand(`real().${key}`)};`).join('\n')}`;
}

const imapflowDependencies = {
  name: 'imapflow-dependencies',
  setup(b) {
    const names = [...Object.keys(LOADED_ON_USE), 'iconv-lite'];
    const filter = new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\/@-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => {
      if (!/[\\/]node_modules[\\/]imapflow[\\/]/.test(args.importer)) return undefined;
      if (args.path === 'iconv-lite') return { path: join(root, 'src', 'imap', 'imapflow-iconv.ts') };
      return { path: args.path, namespace: 'loaded-on-use' };
    });
    b.onLoad({ filter: /.*/, namespace: 'loaded-on-use' }, (args) => ({ contents: loadedOnUse(args.path), loader: 'js', resolveDir: root }));
  },
};

async function build() {
  const { build: esbuild } = await import('esbuild');
  const names = ['mailshift', ...Object.keys(COMMANDS)];
  // Parallel runs (tests) may build at once: each writes its own directory, each rename is atomic.
  const temporary = join(root, 'dist', `.build-${process.pid}`);
  mkdirSync(temporary, { recursive: true });
  try {
    await esbuild({
      entryPoints: names.map((name) => ({ in: `mailshift-entry:${name}`, out: name })),
      plugins: [imapflowDependencies, {
        name: 'mailshift-entries',
        setup(b) {
          b.onResolve({ filter: /^mailshift-entry:/ }, (args) => ({ path: args.path, namespace: 'mailshift-entry' }));
          b.onLoad({ filter: /.*/, namespace: 'mailshift-entry' }, (args) => ({
            contents: entrySource(args.path.slice('mailshift-entry:'.length)), loader: 'js', resolveDir: join(root, 'src', 'cli'),
          }));
        },
      }],
      bundle: true, platform: 'node', format: 'esm', target: 'node20', outdir: temporary, outExtension: { '.js': '.mjs' },
      // better-sqlite3 is native; esbuild and tsx are only for building and the fallback.
      external: ['better-sqlite3', 'esbuild', 'tsx'],
      // Bundled CommonJS dependencies call require(); an ES module has none of its own.
      banner: { js: "import { createRequire as __mailshiftRequire } from 'node:module'; const require = __mailshiftRequire(import.meta.url);" },
      // Whitespace and syntax only: ~6 MB less to hold, while stack traces keep their names.
      minifyWhitespace: true, minifySyntax: true,
      logLevel: 'silent',
    });
    for (const name of names) renameSync(join(temporary, `${name}.mjs`), join(root, 'dist', `${name}.mjs`));
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
}

let entry = pathToFileURL(bundle).href;
if (!bundleIsFresh()) {
  try {
    await build();
  } catch {
    const { register } = await import('tsx/esm/api');
    register();
    entry = pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href;
  }
}
const { main } = await import(entry);
await main(process.argv);
