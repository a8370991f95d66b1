// The admin web page: GET / (index.html) and GET /ui/<file>, static files
// read once at startup into a fixed table, so a request can only name one of
// them (no path ever reaches the file system). The page itself holds no data:
// its script calls /api/v1 with the token the user types, so these routes
// need no token.
//
//   gateway/admin/web/*            → /ui/<name>   (dist/: copied by scripts/copy-web.mjs)
//   qrcode-generator's qrcode.mjs  → /ui/qrcode.mjs (the page draws QR codes itself)

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the page's own files are, beside this module (source and dist alike). */
export const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));

/** The QR encoder module the page imports, served from its npm package. */
const QR_MODULE = { name: 'qrcode.mjs', package: 'qrcode-generator', file: 'qrcode.mjs' } as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Scripts, styles, images and API calls from this origin only; nothing inline, no frames. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  body: Buffer;
  type: string;
}

/** The page's files by name: those in `dir` with a known type, and the QR module. */
export function loadWebFiles(dir: string = WEB_DIR): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    files.set(entry.name, { body: readFileSync(join(dir, entry.name)), type });
  }
  const main = createRequire(import.meta.url).resolve(QR_MODULE.package);
  files.set(QR_MODULE.name, {
    body: readFileSync(join(dirname(main), QR_MODULE.file)),
    type: CONTENT_TYPES['.mjs']!,
  });
  if (!files.has('index.html')) throw new Error(`admin web page: no index.html in ${dir}`);
  return files;
}

function send(reply: FastifyReply, file: StaticFile): FastifyReply {
  return reply
    .header('content-type', file.type)
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache')
    .send(file.body);
}

/** Adds GET / and GET /ui/:file to `app`; reads the files now (throws if the page is missing). */
export function registerWeb(app: FastifyInstance, dir: string = WEB_DIR): void {
  const files = loadWebFiles(dir);
  const index = files.get('index.html')!;
  app.get('/', { schema: { hide: true } }, (_request, reply) => send(reply, index));
  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, (request, reply) => {
    // A name not in the table (a path, '..', anything else) is simply not there.
    const file = files.get(request.params.file);
    if (file === undefined) {
      return reply.code(404).send({ error: { code: 'not-found', message: 'no such file' } });
    }
    return send(reply, file);
  });
}
