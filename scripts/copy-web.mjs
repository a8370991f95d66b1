// Copies the admin web page's static files (gateway/admin/web/) into dist/,
// beside the compiled gateway/admin/web.js that serves them. Run by the build.
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../gateway/admin/web/', import.meta.url);
const to = new URL('../dist/gateway/admin/web/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
