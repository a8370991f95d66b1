// The command line's side of the admin API: one HTTP request over the running
// gateway's Unix socket (api-address.ts; its file permission is the auth, no
// token), JSON in and out.
//
//   request(method, path, body) → node:http { socketPath } → status
//     2xx                → the parsed JSON (or the text of a text/plain answer)
//     4xx                → AdminApiRefusal (a UsageError: exit 2) "<code>: [<field>: ]<message>"
//     5xx, bad answer    → AdminApiFailure (exit 1)
//     no socket, refused → AdminApiFailure 'not-running' (exit 1), one clear line
//
// The API's error body is { error: { code, message, field? } } (docs/admin-api.md).
// Its message is shown as one line of at most MESSAGE_MAX printable characters.

import { request as httpRequest } from 'node:http';
import { CodedError } from '../../shared/errors.js';
import { UsageError } from '../../shared/cli/usage-error.js';
import { adminSocketPath, API_PREFIX } from './api-address.js';

const REQUEST_TIMEOUT_MS = 10_000;
/** Most an answer may be: the client list of a large building, with room to spare. */
const ANSWER_MAX = 16 * 1024 * 1024;
const MESSAGE_MAX = 300;

/** The API refused the request (4xx): what was asked is wrong; exit 2. */
export class AdminApiRefusal extends UsageError {
  override readonly name = 'AdminApiRefusal';
  constructor(
    readonly status: number,
    /** The API's code (ADMIN_ERROR_CODES or bad-request). */
    readonly apiCode: string,
    apiMessage: string,
    readonly field: string | null,
  ) {
    super('refused', refusalText(apiCode, apiMessage, field));
  }
}

export const AdminApiFailureCodes = [
  'not-running', // no socket, or nobody listens on it
  'server', // a 5xx answer
  'transport', // the connection broke, timed out, or another socket error
  'malformed', // an answer that is not the JSON the API sends
] as const;

/** The request could not be served (exit 1). */
export class AdminApiFailure extends CodedError<(typeof AdminApiFailureCodes)[number]> {
  override readonly name = 'AdminApiFailure';
}

/** "<code>: <field>: <message>" (the field only when the message does not start with it). */
function refusalText(code: string, message: string, field: string | null): string {
  const named = field === null || message.startsWith(field) ? message : `${field}: ${message}`;
  return `${code}: ${named}`;
}

/** One line of printable text from what the server said. */
function clean(text: unknown, fallback: string): string {
  if (typeof text !== 'string' || text.trim() === '') return fallback;
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return line.length > MESSAGE_MAX ? `${line.slice(0, MESSAGE_MAX)}…` : line;
}

interface Answer {
  status: number;
  type: string;
  text: string;
}

export class AdminApiClient {
  constructor(
    /** The gateway's interface: names the socket and the messages. */
    readonly iface: string,
    private readonly socketPath = adminSocketPath(iface),
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** Sends one request; `path` is below API_PREFIX. Resolves to the answer's JSON (undefined for 204). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.exchange(method, API_PREFIX + path, body);
    if (answer.status >= 400) throw this.problem(answer);
    if (answer.status === 204 || answer.text === '') return undefined as T;
    if (!answer.type.includes('json')) return answer.text as T;
    try {
      return JSON.parse(answer.text) as T;
    } catch {
      throw new AdminApiFailure(
        'malformed',
        `the gateway ${this.iface} answered ${method} ${path} with malformed JSON`,
      );
    }
  }

  private problem(answer: Answer): Error {
    let error: { code?: unknown; message?: unknown; field?: unknown } = {};
    try {
      const parsed = JSON.parse(answer.text) as { error?: typeof error };
      if (typeof parsed.error === 'object' && parsed.error !== null) error = parsed.error;
    } catch {
      // not the API's error body: the status says what we know
    }
    const code = clean(error.code, `http-${answer.status}`);
    if (answer.status >= 500) {
      return new AdminApiFailure('server', `${code}: ${clean(error.message, `the gateway ${this.iface} failed`)}`);
    }
    const field = typeof error.field === 'string' && error.field !== '' ? clean(error.field, '') : null;
    return new AdminApiRefusal(answer.status, code, clean(error.message, `HTTP ${answer.status}`), field);
  }

  private exchange(method: string, path: string, body: unknown): Promise<Answer> {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          agent: false, // one connection per request: nothing pooled outlives the command
          method,
          path,
          headers: {
            accept: 'application/json',
            ...(payload === null ? {} : { 'content-type': 'application/json', 'content-length': payload.length }),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let length = 0;
          res.on('data', (chunk: Buffer) => {
            length += chunk.length;
            if (length > ANSWER_MAX) {
              req.destroy(
                new AdminApiFailure('malformed', `the gateway ${this.iface} answered more than ${ANSWER_MAX} bytes`),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (e) => reject(this.transportProblem(e)));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              type: String(res.headers['content-type'] ?? ''),
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new AdminApiFailure('transport', `the gateway ${this.iface} did not answer within ${this.timeoutMs} ms`),
        ),
      );
      req.on('error', (e) => reject(this.transportProblem(e)));
      req.end(payload ?? undefined);
    });
  }

  private transportProblem(e: Error): Error {
    if (e instanceof AdminApiFailure) return e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      return new AdminApiFailure(
        'not-running',
        `the gateway ${this.iface} is not running (no admin socket at ${this.socketPath})`,
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new AdminApiFailure('transport', `${this.socketPath}: permission denied (the admin socket is root's)`);
    }
    return new AdminApiFailure('transport', `${this.socketPath}: ${code ?? clean(e.message, 'connection failed')}`);
  }
}
