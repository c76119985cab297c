/**
 * The OpenAPI 3.1 document, built from the routes as fastify registers them (their JSON Schemas are
 * the ones requests are validated and responses serialized with), and a small offline HTML page that
 * lists the routes. Shared schemas (src/api/schemas.ts COMPONENTS) become `$ref`s.
 */
import type { RouteOptions } from 'fastify';
import { COMPONENTS } from './schemas.js';

type Schema = Record<string, unknown>;

export interface RouteDoc {
  method: string;
  url: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: Schema;
  querystring?: Schema;
  body?: Schema;
  response?: Record<string, Schema>;
  /** Non-JSON responses: status → content type (CSV, event stream, HTML). */
  produces?: Record<string, string>;
  /** 'none': no token; 'events': header, ?ticket= or ?token=. */
  auth: 'bearer' | 'none' | 'events';
}

export interface RouteConfig {
  auth?: 'bearer' | 'none' | 'events';
  produces?: Record<string, string>;
  /** Leave the route out of the OpenAPI document. */
  hidden?: boolean;
}

export class RouteCatalog {
  readonly routes: RouteDoc[] = [];

  /** fastify onRoute hook. */
  add(route: RouteOptions): void {
    const config = (route.config ?? {}) as RouteConfig;
    if (config.hidden || !route.url.startsWith('/api/')) return;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    const schema = (route.schema ?? {}) as Schema;
    for (const method of methods) {
      this.routes.push({
        method, url: route.url,
        summary: String(schema.summary ?? ''),
        ...(schema.description ? { description: String(schema.description) } : {}),
        tags: (schema.tags as string[] | undefined) ?? [],
        ...(schema.params ? { params: schema.params as Schema } : {}),
        ...(schema.querystring ? { querystring: schema.querystring as Schema } : {}),
        ...(schema.body ? { body: schema.body as Schema } : {}),
        ...(schema.response ? { response: schema.response as Record<string, Schema> } : {}),
        ...(config.produces ? { produces: config.produces } : {}),
        auth: config.auth ?? 'bearer',
      });
    }
  }
}

const byIdentity = new Map<object, string>(Object.entries(COMPONENTS).map(([name, s]) => [s, name]));

/** Replaces shared schema objects with $refs (except at the top of the component itself). */
function refs(schema: unknown, self?: string): unknown {
  if (Array.isArray(schema)) return schema.map((s) => refs(s));
  if (schema === null || typeof schema !== 'object') return schema;
  const name = byIdentity.get(schema);
  if (name && name !== self) return { $ref: `#/components/schemas/${name}` };
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'default' || k === 'enum' ? v : refs(v)]));
}

function parametersOf(schema: Schema | undefined, where: 'path' | 'query'): Schema[] {
  if (!schema) return [];
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name, in: where, required: where === 'path' || required.has(name),
    ...(s.description ? { description: s.description } : {}),
    schema: refs(s),
  }));
}

const STATUS_TEXT: Record<string, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 400: 'Bad request', 401: 'Missing or wrong admin token', 404: 'Not found',
  409: 'Conflict with the current state', 413: 'Body too large', 422: 'Connection test failed: nothing written', 500: 'Server error', 502: 'A mail server failed', 503: 'Not built',
};

export function buildOpenApi(catalog: RouteCatalog, info: { version: string }): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const r of catalog.routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const responses: Record<string, Schema> = {};
    for (const [status, s] of Object.entries(r.response ?? {})) {
      responses[status] = { description: STATUS_TEXT[status] ?? status, content: { 'application/json': { schema: refs(s) } } };
    }
    for (const [status, type] of Object.entries(r.produces ?? {})) {
      responses[status] = { description: STATUS_TEXT[status] ?? status, content: { [type]: { schema: { type: 'string' } } } };
    }
    if (r.auth !== 'none' && !responses['401']) {
      responses['401'] = { description: STATUS_TEXT[401], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const op: Schema = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').split(/[/.-]/).filter(Boolean).map((s) => s[0]!.toUpperCase() + s.slice(1)).join('')}`,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: r.tags,
      parameters: [...parametersOf(r.params, 'path'), ...parametersOf(r.querystring, 'query')],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: refs(r.body) } } } } : {}),
      responses,
      security: r.auth === 'none' ? [] : r.auth === 'events' ? [{ bearer: [] }, { eventsTicket: [] }, { tokenQuery: [] }] : [{ bearer: [] }],
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'mailshift REST API',
      version: info.version,
      description: 'Migration endpoints, batches, their users, reports and live events of a `mailshift serve`. Passwords are write-only. Errors are `{code, message, remediation}` (docs/errors.md). See docs/api.md.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The admin token: MAILSHIFT_ADMIN_TOKEN, or the one `mailshift serve` printed at its first start.' },
        eventsTicket: { type: 'apiKey', in: 'query', name: 'ticket', description: 'GET /api/events only: a ticket from POST /api/events/ticket (valid 5 minutes).' },
        tokenQuery: { type: 'apiKey', in: 'query', name: 'token', description: 'GET /api/events only: the admin token itself.' },
      },
      schemas: Object.fromEntries(Object.entries(COMPONENTS).map(([name, s]) => [name, refs(s, name)])),
    },
  };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function schemaLabel(s: unknown): string {
  if (!s || typeof s !== 'object') return '';
  const ref = (s as Schema).$ref;
  if (typeof ref === 'string') return ref.replace('#/components/schemas/', '');
  const t = (s as Schema).type;
  if (t === 'array') return `${schemaLabel((s as Schema).items)}[]`;
  if (t === 'object' && (s as Schema).properties) return `{${Object.keys((s as Schema).properties as Schema).join(', ')}}`;
  return Array.isArray(t) ? t.join(' | ') : String(t ?? 'any');
}

/** /api/docs: the routes of the OpenAPI document as one static page (no script, no CDN). */
export function renderDocsPage(doc: Schema): string {
  const paths = doc.paths as Record<string, Record<string, Schema>>;
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters as Schema[]).map((p) => `<code>${esc(String(p.name))}</code>${p.in === 'query' ? '' : ' (path)'}`).join(', ');
      const body = op.requestBody ? schemaLabel(((op.requestBody as Schema).content as Record<string, Schema>)['application/json']!.schema) : '';
      const responses = Object.entries(op.responses as Record<string, Schema>).map(([status, r]) => {
        const content = (r.content ?? {}) as Record<string, Schema>;
        const [type, media] = Object.entries(content)[0] ?? ['', {}];
        const label = type === 'application/json' ? schemaLabel((media as Schema).schema) : type;
        return `<li><b>${esc(status)}</b> ${esc(String(r.description))}${label ? ` — <code>${esc(label)}</code>` : ''}</li>`;
      }).join('');
      const auth = (op.security as unknown[]).length === 0 ? '<span class="pub">no token</span>' : '';
      const html = `<section id="${esc(String(op.operationId))}"><h3><span class="m m-${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code> ${auth}</h3>
<p>${esc(String(op.summary ?? ''))}</p>${op.description ? `<p class="d">${esc(String(op.description))}</p>` : ''}
${params ? `<p>Parameters: ${params}</p>` : ''}${body ? `<p>Body: <code>${esc(body)}</code></p>` : ''}<ul>${responses}</ul></section>`;
      const tag = ((op.tags as string[])[0]) ?? 'other';
      byTag.set(tag, [...(byTag.get(tag) ?? []), html]);
    }
  }
  const info = doc.info as Schema;
  const toc = [...byTag.keys()].map((t) => `<a href="#tag-${esc(t)}">${esc(t)}</a>`).join(' · ');
  const sections = [...byTag.entries()].map(([tag, items]) => `<h2 id="tag-${esc(tag)}">${esc(tag)}</h2>${items.join('\n')}`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(String(info.title))} ${esc(String(info.version))}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code{background:#f2f2f4;padding:0 .25rem;border-radius:3px}
section{border-top:1px solid #ddd;padding:.4rem 0}h3{margin:.4rem 0;font-size:1rem}
.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:3px;color:#fff;font-size:.8rem;padding:.1rem .3rem}
.m-get{background:#1f6feb}.m-post{background:#1a7f37}.m-patch{background:#9a6700}.m-delete{background:#cf222e}
.pub{font-size:.8rem;color:#666}.d{color:#444}ul{margin:.2rem 0}
</style></head><body>
<h1>${esc(String(info.title))} <small>${esc(String(info.version))}</small></h1>
<p>${esc(String(info.description))}</p>
<p>Every route needs <code>Authorization: Bearer TOKEN</code> unless marked “no token”. The machine-readable document is
<a href="/api/openapi.json"><code>/api/openapi.json</code></a> (with the token).</p>
<p>${toc}</p>
${sections}
</body></html>
`;
}
