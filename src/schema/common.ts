import { Type, type TSchema } from '@sinclair/typebox';

/** A string enum as plain JSON-schema `enum` (one clear error, unlike anyOf of consts). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  opts: { default?: T[number]; description?: string } = {},
) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
}

export const Ipv4 = Type.String({ format: 'ipv4' });

/** An object that refuses unknown keys: a typo in config or inventory is an error, not a silent default. */
export function Strict<T extends Record<string, TSchema>>(props: T, opts: { description?: string } = {}) {
  return Type.Object(props, { additionalProperties: false, ...opts });
}

export const Labels = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9][-A-Za-z0-9_./]{0,252}$' }),
  Type.String({ maxLength: 253 }),
);

/** Installer template variables (templates/README.md): names as template paths take them, string values. */
export const TemplateVarName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' });
// additionalProperties: a name that is not a template path ("a-b") is refused, not ignored.
export const TemplateVars = Type.Record(TemplateVarName, Type.String(), { additionalProperties: false });
