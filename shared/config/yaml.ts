// The YAML front end of meshgate's configuration files (the gateway's and
// the client agent's): one YAML document, checked against a TypeBox schema,
// then handed to the loader's own normalization.
//
//   file -> readConfigText -> YAML (syntax, unique keys, alias limit)
//        -> schema (types, ranges, unknown fields, in the user's words) -> normalize
//
// Every problem is a ConfigError naming the file (and the line for YAML
// syntax). Messages never repeat text that may hold a key: library messages
// that quote the document and unknown field names pass through redact.ts.

import { readFileSync } from 'node:fs';
import { type Static, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import YAML, { LineCounter } from 'yaml';
import { ConfigError, FieldError, oneLine } from './config-error.js';
import { mayHoldKey, showName } from './redact.js';

/** Reads a configuration file's text. Throws ConfigError ('unreadable'). */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', 'unreadable', `cannot read the file: ${errnoText(e)}`);
  }
}

/**
 * Parses one YAML document and checks it against a schema. An empty file is
 * an empty mapping (so the first missing field is named).
 */
export function parseYamlDocument<S extends TSchema>(text: string, file: string, schema: S): Static<S> {
  const wrap = (e: FieldError, line = 0): ConfigError => e.inFile(file, line);
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true, lineCounter });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const line = lineCounter.linePos(syntax.pos[0]).line;
    const sourceLine = line > 0 ? (text.split(/\r?\n/)[line - 1] ?? '') : '';
    const hint = /\[[0-9A-Fa-f:.]*\]:\d/.test(sourceLine)
      ? ' (write an [IPv6]:port endpoint in quotes: "[2001:db8::1]:51820")'
      : '';
    throw wrap(
      new FieldError('', 'syntax', `YAML syntax: ${yamlProblem(syntax.message, syntax.code, text)}${hint}`),
      line,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // The yaml library's messages may quote the text (an alias name, say): never one that may hold a key.
    const message = oneLine((e as Error).message);
    throw wrap(
      new FieldError('', 'syntax', `YAML: ${quotesText(message, text) ? 'the document cannot be built' : message}`),
    );
  }
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw wrap(
      new FieldError('', 'type', `expected a mapping of settings (field: value), got ${describeValue(value)}`),
    );
  }
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    if (first !== undefined) throw wrap(schemaProblem(first, propertyNames(schema)));
  }
  return value as Static<S>;
}

/** The first line of a yaml library message, without its position suffix (only its code when it quotes the text). */
function yamlProblem(message: string, code: string, source: string): string {
  const problem = oneLine(message.replace(/ at line \d+, column \d+:?[\s\S]*$/, ''));
  return quotesText(problem, source) ? code : problem;
}

/** Whether a library's message repeats a piece of the user's text that may hold a key. */
function quotesText(message: string, source: string): boolean {
  return (message.match(/[A-Za-z0-9+/]{16,}/g) ?? []).some((run) => source.includes(run));
}

/** Every property name a schema declares, at any depth: the field names a message may repeat as they are. */
function propertyNames(schema: TSchema, out = new Set<string>()): Set<string> {
  const s = schema as { properties?: Record<string, TSchema>; items?: TSchema; anyOf?: TSchema[] };
  for (const [name, sub] of Object.entries(s.properties ?? {})) {
    out.add(name);
    propertyNames(sub, out);
  }
  if (s.items !== undefined) propertyNames(s.items, out);
  for (const sub of s.anyOf ?? []) propertyNames(sub, out);
  return out;
}

/** A TypeBox error as a FieldError, in the user's words. */
function schemaProblem(e: ValueError, known: ReadonlySet<string>): FieldError {
  const field = fieldPath(e.path, known);
  const schema = e.schema as Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return new FieldError(field, 'missing', 'required, but missing');
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
      const name = e.path
        .slice(e.path.lastIndexOf('/') + 1)
        .replace(/~1/g, '/')
        .replace(/~0/g, '~');
      const near = closest(name, known);
      return new FieldError(
        field,
        'unknown-field',
        `unknown field${near === undefined ? '' : ` (did you mean ${near}?)`}`,
      );
    }
    case ValueErrorType.String:
      return new FieldError(field, 'type', `must be text, got ${describeValue(e.value)}`);
    case ValueErrorType.StringMinLength:
      return new FieldError(field, 'invalid', 'must not be empty');
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum: {
      const range =
        typeof schema.minimum === 'number' && typeof schema.maximum === 'number'
          ? ` from ${schema.minimum} to ${schema.maximum}`
          : '';
      const code = typeof e.value === 'number' && Number.isInteger(e.value) ? 'range' : 'type';
      return new FieldError(field, code, `must be a whole number${range}, got ${describeValue(e.value)}`);
    }
    case ValueErrorType.Array:
      return new FieldError(field, 'type', `must be a list, got ${describeValue(e.value)}`);
    case ValueErrorType.ArrayMaxItems:
      return new FieldError(field, 'range', `at most ${String(schema.maxItems)} entries`);
    case ValueErrorType.Object:
      return new FieldError(field, 'type', `must be a mapping (field: value), got ${describeValue(e.value)}`);
    case ValueErrorType.Boolean:
      return new FieldError(field, 'type', `must be true or false, got ${describeValue(e.value)}`);
    case ValueErrorType.Union: {
      const options = ((schema.anyOf as { const?: unknown }[] | undefined) ?? []).map((s) => JSON.stringify(s.const));
      return new FieldError(field, 'invalid', `must be one of ${options.join(', ')}, got ${describeValue(e.value)}`);
    }
    default: {
      const message = oneLine(e.message).toLowerCase();
      return new FieldError(field, 'invalid', mayHoldKey(message) ? 'not valid here' : message);
    }
  }
}

/**
 * "/clients/1/publicKey" → "clients[1].publicKey". A name the schema does not
 * declare (an unknown field) is the user's text: shown only when it cannot
 * be a key.
 */
export function fieldPath(pointer: string, known: ReadonlySet<string> = new Set()): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(name)) out += `[${name}]`;
    else if (known.has(name)) out += out === '' ? name : `.${name}`;
    else {
      const shown = showName(name);
      out += shown === name && /^[A-Za-z0-9_-]+$/.test(name) ? (out === '' ? name : `.${name}`) : `[${shown}]`;
    }
  }
  return out;
}

/** What a value is, for type errors; never the value itself when it is text. */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return 'text';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (value instanceof Date) return 'a date';
  return 'a mapping';
}

/** The known field a misspelt one most likely means, if any is close enough. */
function closest(name: string, known: string[]): string | undefined {
  const allowed = Math.max(2, Math.floor(name.length / 2));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const k of known) {
    const d = editDistance(k, name);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[y.length]!;
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return code ?? oneLine((e as Error).message);
  }
}

/**
 * The front end both loaders share: YAML and schema checks, then the loader's
 * own normalization; every FieldError becomes a ConfigError naming `file`.
 */
export function parseYamlConfig<S extends TSchema, T>(
  text: string,
  file: string,
  schema: S,
  normalize: (raw: Static<S>, file: string) => T,
): T {
  const raw = parseYamlDocument(text, file, schema);
  try {
    return normalize(raw, file);
  } catch (e) {
    if (e instanceof FieldError) throw e.inFile(file);
    throw e;
  }
}

/** readConfigText, then parseYamlConfig: a loader's whole front end. */
export function loadYamlConfig<S extends TSchema, T>(
  file: string,
  schema: S,
  normalize: (raw: Static<S>, file: string) => T,
): T {
  return parseYamlConfig(readConfigText(file), file, schema, normalize);
}
