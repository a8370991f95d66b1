// The admin HTTP API as a fastify app that never listens (listen.ts does):
//
//   request → onRequest: bearer token (not on the trusted Unix-socket app)
//           → schema validation (params, body; unknown body fields refused)
//           → route → AdminBackend → response schema (serializes named fields only)
//   any throw → one error handler → { error: { code, message, field? } }
//
// Routes: /api/v1/… (clients, leases, usage, status, policies),
// /api/openapi.json, /metrics (public when metricsPublic), and the web page
// (web.ts: GET / and /ui/*, static files without a token).
//
// Error messages never repeat a request value: a token or a key pasted into
// the wrong field must not come back in a response or a log line.

import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from '../../shared/log.js';
import { API_PREFIX } from './api-address.js';
import { AdminError, type AdminBackend, type AdminErrorCode } from './backend.js';
import {
  ClientConfig,
  ClientCreateBody,
  ClientList,
  ClientPatchBody,
  ClientSchema,
  ClientUsage,
  CreatedClient,
  ErrorBody,
  GatewaySchema,
  KeyParams,
  LeaseList,
  NameParams,
  PolicyList,
  UsageReportSchema,
  type ApiErrorCode,
} from './schemas.js';
import { registerWeb } from './web.js';

export { API_PREFIX };
export const OPENAPI_PATH = '/api/openapi.json';
export const METRICS_PATH = '/metrics';
/** Request bodies are small JSON objects. */
export const BODY_LIMIT = 64 * 1024;
/** A request must arrive whole within this (a slow sender cannot hold a connection). */
const REQUEST_TIMEOUT_MS = 30_000;

/** The HTTP status of each coded error. */
export const ERROR_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  'bad-request': 400,
  invalid: 400,
  'unknown-policy': 400,
  unauthorized: 401,
  'not-found': 404,
  duplicate: 409,
  'file-managed': 409,
  'in-use': 409,
  'pool-exhausted': 503,
  internal: 500,
};

export interface AdminTokens {
  /** The token's name, or null: not a token of this gateway. */
  verify(presented: string, now: number): string | null;
}

export interface AdminMetrics {
  render(): Promise<string>;
  contentType: string;
}

export interface AdminAppOptions {
  backend: AdminBackend;
  metrics: AdminMetrics;
  tokens: AdminTokens;
  /** The Unix-socket app: the socket's permissions are the auth, no token asked. */
  trusted: boolean;
  /** /metrics without a token (TCP). */
  metricsPublic: boolean;
  log: Logger;
  /** Wall clock, epoch ms (tests pass their own). */
  now?: () => number;
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/;
/** Anything shaped like a WireGuard key or a token, in a backend's message. */
const KEY_LIKE = /[A-Za-z0-9+/_-]{40,}={0,2}/g;
/** A field name shown in an error: a plain identifier path, never something that could be a key. */
const SAFE_FIELD = /^[A-Za-z][A-Za-z0-9_.]{0,39}$/;

const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
};

/** The admin app; not listening. Routes are ready after `await app.ready()` (inject() waits itself). */
export function buildAdminApp(options: AdminAppOptions): FastifyInstance {
  const now = options.now ?? Date.now;
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    // One line per request would flood the log at every scrape; errors are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Bodies are checked as sent: no coercion ("5" is not 5), unknown fields refused, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler((error: FastifyError, request, reply) => sendError(reply, toApiError(error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new ApiError('not-found', `no route ${request.method} ${routeOf(request.url)}`)),
  );

  void app.register(swagger, {
    openapi: {
      info: { title: 'meshgate admin API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  // Everything in here asks for a token (unless trusted); the web page's files do not.
  void app.register(async (api) => {
    api.addHook('onRequest', async (request) => {
      if (options.trusted) return;
      if (options.metricsPublic && request.routeOptions.url === METRICS_PATH) return;
      authenticate(request, options.tokens, now());
    });
    api.get(OPENAPI_PATH, { schema: { hide: true } }, () => app.swagger());
    api.get(METRICS_PATH, { schema: { hide: true } }, async (_request, reply) => {
      const text = await options.metrics.render();
      return reply.type(options.metrics.contentType).send(text);
    });
    await api.register(async (v1) => routes(v1, options.backend, now), { prefix: API_PREFIX });
  });

  registerWeb(app);
  return app as unknown as FastifyInstance;
}

/**
 * A route's schema: its OpenAPI tag, its answer (status: schema) next to the
 * error bodies every route may send, and its params or body when it has them.
 */
function spec<R extends Record<number, TSchema>, P extends { params?: TSchema; body?: TSchema } = object>(
  tag: string,
  response: R,
  parts?: P,
) {
  return { schema: { tags: [tag], ...(parts as P), response: { ...response, ...errorResponses } } };
}

/** The answer of a route that has nothing to say: 204 with no body. */
function noContent(reply: FastifyReply): null {
  void reply.code(204);
  return null;
}

function routes(v1: FastifyInstance, backend: AdminBackend, now: () => number): void {
  const api = v1.withTypeProvider<TypeBoxTypeProvider>();
  const name = { params: NameParams };

  api.get('/clients', spec('clients', { 200: ClientList }), () => ({ clients: backend.listClients() }));

  api.post('/clients', spec('clients', { 201: CreatedClient }, { body: ClientCreateBody }), (request, reply) => {
    void reply.code(201);
    return backend.createClient(request.body);
  });

  api.get('/clients/:name', spec('clients', { 200: ClientSchema }, name), (request) =>
    backend.getClient(request.params.name),
  );

  api.patch(
    '/clients/:name',
    spec('clients', { 200: ClientSchema }, { params: NameParams, body: ClientPatchBody }),
    (request) => backend.updateClient(request.params.name, request.body),
  );

  api.delete('/clients/:name', spec('clients', { 204: Type.Null() }, name), (request, reply) => {
    backend.removeClient(request.params.name);
    return noContent(reply);
  });

  api.get('/clients/:name/config', spec('clients', { 200: ClientConfig }, name), (request) => ({
    name: request.params.name,
    config: backend.clientConfig(request.params.name),
  }));

  for (const [action, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    api.post(`/clients/:name/${action}`, spec('clients', { 200: ClientSchema }, name), (request) =>
      backend.updateClient(request.params.name, { enabled }),
    );
  }

  api.get('/clients/:name/usage', spec('usage', { 200: ClientUsage }, name), (request) =>
    backend.usage(request.params.name),
  );

  api.get('/leases', spec('leases', { 200: LeaseList }), () => ({ leases: backend.listLeases() }));

  api.delete('/leases/:publicKey', spec('leases', { 204: Type.Null() }, { params: KeyParams }), (request, reply) => {
    backend.releaseLease(request.params.publicKey);
    return noContent(reply);
  });

  api.get('/usage', spec('usage', { 200: UsageReportSchema }), () => ({
    at: new Date(now()).toISOString(),
    clients: backend.listClients().map((c) => c.usage),
  }));

  api.get('/status', spec('gateway', { 200: GatewaySchema }), () => backend.status());

  api.get('/policies', spec('gateway', { 200: PolicyList }), () => ({ policies: backend.policies() }));
}

function authenticate(request: FastifyRequest, tokens: AdminTokens, now: number): void {
  const match = BEARER.exec(request.headers.authorization ?? '');
  const name = match ? tokens.verify(match[1]!, now) : null;
  if (name === null) {
    throw new ApiError('unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)');
  }
  request.log.debug({ token: name }, 'admin request authenticated');
}

/** An error as the response states it. */
class ApiError {
  constructor(
    readonly code: ApiErrorCode,
    readonly message: string,
    readonly field?: string,
    readonly status: number = ERROR_STATUS[code],
  ) {}
}

/** fastify's own request errors, in words that repeat nothing of the request. */
const FASTIFY_ERRORS: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty but its content-type is JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: `the body is larger than ${BODY_LIMIT} bytes`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the body must be JSON (content-type: application/json)',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the content-length does not match the body',
};

function toApiError(error: FastifyError | ApiError | AdminError, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof AdminError) return fromAdminError(error, request);
  if (error.validation && error.validation.length > 0) return fromValidation(error);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const message = FASTIFY_ERRORS[error.code] ?? 'the request is not valid';
    return new ApiError('bad-request', message, undefined, status);
  }
  request.log.error({ err: error, route: request.routeOptions.url }, 'admin API internal error');
  return new ApiError('internal', 'internal error (see the gateway log)');
}

function fromAdminError(error: AdminError, request: FastifyRequest): ApiError {
  if (error.code === 'internal') {
    request.log.error({ err: error, route: request.routeOptions.url }, 'admin API internal error');
    return new ApiError('internal', 'internal error (see the gateway log)');
  }
  return new ApiError(error.code as AdminErrorCode, error.message.replace(KEY_LIKE, '(key)'), safeField(error.field));
}

/** The first schema failure, naming its field. */
function fromValidation(error: FastifyError): ApiError {
  const first = error.validation![0]!;
  const params = first.params as Record<string, unknown>;
  const path = first.instancePath.split('/').filter((p) => p !== '');
  let what: string;
  if (first.keyword === 'required') {
    path.push(String(params.missingProperty));
    what = 'is required';
  } else if (first.keyword === 'additionalProperties') {
    path.push(String(params.additionalProperty));
    what = 'is not a known field';
  } else if (first.keyword === 'minProperties') {
    what = 'must name at least one field';
  } else if (first.keyword === 'pattern') {
    what = 'has the wrong form';
  } else {
    what = first.message ?? 'is not valid';
  }
  const context = error.validationContext ?? 'body';
  const field = safeField(path.join('.'));
  const subject = path.length === 0 ? `the ${context}` : field === undefined ? `a ${context} field` : `${field}`;
  return new ApiError('bad-request', `${subject} ${what}`, field);
}

function safeField(field: string | undefined): string | undefined {
  return field !== undefined && SAFE_FIELD.test(field) ? field : undefined;
}

/** The path of a URL without its query, cut short (it is repeated in a 404). */
function routeOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > 64 || /[A-Za-z0-9+/%]{40,}/.test(path) ? '(path not shown)' : path;
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer');
  const body = { error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) } };
  return reply.code(error.status).type('application/json; charset=utf-8').send(body);
}
