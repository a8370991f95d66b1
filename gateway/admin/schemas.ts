// The JSON shapes of the admin API (TypeBox): what a request may carry and
// what a response holds. Response schemas are also a guard: fastify serializes
// only the fields named here, and no schema here has a private-key field
// except CreatedClient.config (the one-time wg-quick file of a generated key).
//
// They mirror the types of backend.ts; a change there is a change here.

import { Type, type TSchema } from '@sinclair/typebox';
import { WEIGHT_MAX, WEIGHT_MIN } from '../traffic/policy.js';
import { ADMIN_ERROR_CODES } from './backend.js';

/** Client names, as in gateway.yaml (config-clients.ts). */
export const CLIENT_NAME_PATTERN = '^[A-Za-z0-9._-]{1,32}$';
/** A WireGuard key in base64: 43 characters and '=' (shared/wireguard/keys.ts checks the bytes). */
export const KEY_PATTERN = '^[A-Za-z0-9+/]{43}=$';
/** As the registry's limit (gateway/admin/registry.ts). */
export const NOTES_MAX = 1024;
const POLICY_NAME_MAX = 32;

/** The error codes of a response: the backend's, and schema failures. */
export const API_ERROR_CODES = [...ADMIN_ERROR_CODES, 'bad-request'] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Count = Type.Integer({ minimum: 0 });
const IsoTime = Type.String({ description: 'ISO 8601' });

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(API_ERROR_CODES.map((c) => Type.Literal(c))),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'The request field at fault' })),
    }),
  },
  { description: 'A coded error' },
);

export const NameParams = Type.Object({ name: Type.String({ pattern: CLIENT_NAME_PATTERN }) });
export const KeyParams = Type.Object({
  publicKey: Type.String({ pattern: KEY_PATTERN, description: 'Base64, URL-encoded in the path' }),
});

const Weight = Type.Integer({ minimum: WEIGHT_MIN, maximum: WEIGHT_MAX });
const PolicyName = Type.String({ minLength: 1, maxLength: POLICY_NAME_MAX });
const Notes = Type.String({ maxLength: NOTES_MAX });

export const ClientCreateBody = Type.Object(
  {
    name: Type.String({ pattern: CLIENT_NAME_PATTERN }),
    publicKey: Type.Optional(Type.String({ pattern: KEY_PATTERN })),
    generateKey: Type.Optional(Type.Boolean()),
    policy: Type.Optional(PolicyName),
    weight: Type.Optional(Nullable(Weight)),
    notes: Type.Optional(Notes),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ClientPatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: CLIENT_NAME_PATTERN })),
    enabled: Type.Optional(Type.Boolean()),
    policy: Type.Optional(PolicyName),
    weight: Type.Optional(Nullable(Weight)),
    notes: Type.Optional(Notes),
  },
  { additionalProperties: false, minProperties: 1 },
);

const Transfer = Type.Object({ bytes: Count, packets: Count });

export const UsageEntrySchema = Type.Object({
  name: Type.String(),
  publicKey: Type.String(),
  policy: Type.String(),
  state: Type.Union([Type.Literal('ok'), Type.Literal('throttled'), Type.Literal('blocked')]),
  periodStart: IsoTime,
  periodEnd: IsoTime,
  download: Transfer,
  upload: Transfer,
  used: Count,
  quota: Nullable(Count),
  limits: Type.Object({ down: Nullable(Count), up: Nullable(Count) }),
  drops: Type.Object({ quota: Count, queue: Count }),
});

export const UsageRowSchema = Type.Object({
  publicKey: Type.String(),
  periodStart: Type.Integer({ description: 'epoch ms' }),
  periodEnd: Type.Integer({ description: 'epoch ms' }),
  updatedAt: Type.Integer({ description: 'epoch ms' }),
  downBytes: Count,
  upBytes: Count,
  downPackets: Count,
  upPackets: Count,
});

export const ClientSchema = Type.Object({
  name: Type.String(),
  publicKey: Type.String(),
  origin: Type.Union([Type.Literal('file'), Type.Literal('api')]),
  enabled: Type.Boolean(),
  policy: Type.String(),
  weight: Type.Integer(),
  notes: Type.String(),
  lease: Nullable(Type.Object({ ipv4: Type.String(), ipv6: Type.String() })),
  endpoint: Nullable(Type.String()),
  lastHandshake: Nullable(IsoTime),
  transfer: Type.Object({ rxBytes: Count, txBytes: Count }),
  rates: Type.Object({ downBps: Type.Number({ minimum: 0 }), upBps: Type.Number({ minimum: 0 }) }),
  usage: UsageEntrySchema,
  createdAt: Nullable(IsoTime),
});

export const ClientList = Type.Object({ clients: Type.Array(ClientSchema) });

export const CreatedClient = Type.Object({
  client: ClientSchema,
  config: Nullable(
    Type.String({ description: 'wg-quick config with the private key: only with generateKey, only in this response' }),
  ),
});

export const ClientConfig = Type.Object({
  name: Type.String(),
  config: Type.String({ description: 'wg-quick config; the PrivateKey line is left for the user' }),
});

export const ClientUsage = Type.Object({ current: UsageEntrySchema, history: Type.Array(UsageRowSchema) });

export const UsageReportSchema = Type.Object({ at: IsoTime, clients: Type.Array(UsageEntrySchema) });

export const LeaseList = Type.Object({
  leases: Type.Array(
    Type.Object({
      publicKey: Type.String(),
      name: Nullable(Type.String()),
      ipv4: Type.String(),
      ipv6: Type.String(),
      assignedAt: IsoTime,
      configured: Type.Boolean(),
    }),
  ),
});

const PoolUseSchema = Type.Object({ prefix: Type.String(), used: Count, size: Count });

export const GatewaySchema = Type.Object({
  interface: Type.String(),
  publicKey: Type.String(),
  listenPort: Type.Integer(),
  uplink: Type.Object({ name: Type.String(), up: Type.Boolean() }),
  version: Type.String(),
  startedAt: IsoTime,
  sessions: Count,
  handshakes: Type.Object({ completed: Count, failed: Count }),
  pools: Type.Object({ ipv4: PoolUseSchema, ipv6: PoolUseSchema }),
  clients: Type.Object({ total: Count, enabled: Count }),
});

export const PolicyList = Type.Object({ policies: Type.Array(Type.String()) });
