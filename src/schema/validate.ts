// One Ajv for config, inventory and anything else validated outside fastify, with
// error messages an operator can act on: the dotted key, then what is wrong.
import { Ajv, type ErrorObject } from 'ajv';
import * as addFormatsModule from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { didYouMean } from '../suggest.js';

// ajv-formats ships CJS with a default export; under NodeNext the callable sits on .default.
const addFormats = addFormatsModule.default as unknown as typeof addFormatsModule.default.default;

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: false, verbose: true });
// verbose: errors carry their parent schema, whose properties are the keys an unknown key may have meant.
addFormats(ajv, ['ipv4', 'uri', 'date-time']);

export interface ValidationProblem {
  /** JSON-pointer path segments of the offending value, e.g. ['dhcp', 'mode']. */
  path: (string | number)[];
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; problems: ValidationProblem[] };

const compiled = new WeakMap<TSchema, ReturnType<Ajv['compile']>>();

/** Validate (and fill defaults into) `value`. */
export function validate<S extends TSchema>(schema: S, value: unknown): Validated<Static<S>> {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema);
    compiled.set(schema, check);
  }
  if (check(value)) return { ok: true, value: value as Static<S> };
  return { ok: false, problems: simplify(check.errors ?? []) };
}

export function dotted(path: (string | number)[]): string {
  return path.length === 0
    ? '(top level)'
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : p))
        .join('.')
        .replace(/\.\[/g, '[');
}

export function formatProblems(problems: ValidationProblem[]): string {
  return problems.map((p) => `${dotted(p.path)}: ${p.message}`).join('; ');
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

// Ajv reports every branch of an anyOf and one line per keyword; operators want one
// line per offending key, naming unknown keys and allowed values.
function simplify(errors: ErrorObject[]): ValidationProblem[] {
  const out = new Map<string, ValidationProblem>();
  for (const e of errors) {
    const path = pointerToPath(e.instancePath);
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      path.push(extra);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      message = `unknown key${didYouMean(extra, allowed)}`;
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    } else if (e.keyword === 'required') {
      path.push((e.params as { missingProperty: string }).missingProperty);
      message = 'is required';
    } else if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      continue; // the branch errors already say what is wrong
    }
    const key = `${path.join('\u0000')}|${message}`;
    if (!out.has(key)) out.set(key, { path, message });
  }
  return [...out.values()];
}
