/**
 * The dashboard's static files (web/dist, built by Vite): `/` and client-side routes → index.html,
 * files by extension with their content type, nothing outside the root (no `..`, no encoded
 * separators, no symlink escapes). Until the dashboard is built, `/` explains how to build it.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
};

/** Same origin only: no CDN, no inline script; inline styles are allowed (React style props). */
export const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

/** The checkout's (or installed package's) root: the nearest directory up with mailshift's package.json. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = from;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mailshift') return dir;
      } catch { /* keep looking */ }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** web/dist of this package, or MAILSHIFT_WEB_DIST. */
export function defaultWebRoot(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.MAILSHIFT_WEB_DIST) return resolve(env.MAILSHIFT_WEB_DIST);
  const root = packageRoot();
  return root ? join(root, 'web', 'dist') : null;
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailshift — dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#222}code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem}</style></head>
<body><h1>The dashboard is not built</h1>
<p>This <code>mailshift serve</code> runs the migration service and the REST API, but the web dashboard has not been built yet
(there is no <code>web/dist/index.html</code>). Build it once from the checkout, then reload this page:</p>
<pre>npm run build:web        # or: npx vite build web</pre>
<p>The API works meanwhile: see <a href="/api/docs">/api/docs</a> (it needs the admin token printed at the first start).</p>
</body></html>
`;

export interface StaticResult {
  status: number;
  body: Buffer | string;
  type: string;
}

/** Resolves a request path to a file under `root`; null when it would leave it or does not exist. */
function fileUnder(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').some((seg) => seg === '..')) return null;
  const full = resolve(root, `.${decoded.startsWith('/') ? decoded : `/${decoded}`}`);
  if (full !== root && !full.startsWith(root + sep)) return null;
  try {
    if (!statSync(full).isFile()) return null;
    // A symlink inside web/dist that points elsewhere is not followed out of it.
    const real = realpathSync(full);
    const realRoot = realpathSync(root);
    if (!real.startsWith(realRoot + sep)) return null;
    return real;
  } catch {
    return null;
  }
}

/** What to answer for a GET outside /api/. */
export function resolveStatic(root: string | null, urlPath: string): StaticResult {
  const index = root ? join(root, 'index.html') : null;
  if (!root || !index || !existsSync(index)) {
    return { status: urlPath === '/' || urlPath === '/index.html' ? 503 : 404, body: NOT_BUILT, type: CONTENT_TYPES['.html']! };
  }
  const pathOnly = urlPath.split('?')[0]!;
  if (pathOnly !== '/') {
    const file = fileUnder(root, pathOnly);
    if (file) return { status: 200, body: readFileSync(file), type: CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream' };
    // A missing asset is a 404, not the index page (a script tag must not get HTML).
    if (pathOnly.startsWith('/assets/') || extname(pathOnly) !== '') {
      return { status: 404, body: 'Not found\n', type: CONTENT_TYPES['.txt']! };
    }
  }
  return { status: 200, body: readFileSync(index), type: CONTENT_TYPES['.html']! };
}

export function sendStatic(reply: FastifyReply, root: string | null, urlPath: string): FastifyReply {
  const result = resolveStatic(root, urlPath);
  const pathOnly = urlPath.split('?')[0]!;
  reply.code(result.status).type(result.type)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Content-Security-Policy', DASHBOARD_CSP)
    .header('Referrer-Policy', 'no-referrer')
    // Vite's hashed assets never change; index.html must be revalidated to pick up a new build.
    .header('Cache-Control', pathOnly.startsWith('/assets/') && result.status === 200 ? 'public, max-age=31536000, immutable' : 'no-cache');
  return reply.send(result.body);
}
