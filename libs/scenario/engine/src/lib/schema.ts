// SPDX-License-Identifier: Apache-2.0
// One description per data contract (scenario files, the report), from which come both the
// validator (defaults applied, every error naming the dotted key and the rule broken, unknown
// keys rejected) and the JSON Schema users read and other tools validate against.

export type Schema =
  | { readonly t: 'int'; readonly min?: number; readonly max?: number; readonly def?: number; readonly doc?: string }
  | { readonly t: 'num'; readonly min?: number; readonly max?: number; readonly def?: number; readonly doc?: string }
  | { readonly t: 'bool'; readonly def?: boolean; readonly doc?: string }
  | { readonly t: 'str'; readonly enum?: readonly string[]; readonly pattern?: string; readonly def?: string; readonly doc?: string }
  /** An unsigned value that may exceed 2^53: a number, or a "0x..." / decimal string; parsed to bigint. */
  | { readonly t: 'u64'; readonly def?: bigint; readonly doc?: string }
  | { readonly t: 'seed'; readonly def?: number | string; readonly doc?: string }
  | {
      readonly t: 'obj';
      readonly fields: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
      readonly doc?: string;
      readonly open?: boolean;
    }
  | { readonly t: 'arr'; readonly of: Schema; readonly min?: number; readonly max?: number; readonly def?: readonly unknown[]; readonly doc?: string }
  | { readonly t: 'map'; readonly of: Schema; readonly keys?: string; readonly doc?: string }
  | {
      readonly t: 'union';
      readonly tag: string;
      readonly variants: Readonly<Record<string, Extract<Schema, { t: 'obj' }>>>;
      readonly doc?: string;
      readonly def?: Readonly<Record<string, unknown>>;
    }
  | { readonly t: 'opt'; readonly of: Schema }
  /** `of` or null (the key must be present). */
  | { readonly t: 'nullable'; readonly of: Schema }
  /** Any JSON value. */
  | { readonly t: 'any'; readonly doc?: string };

export interface SchemaIssue {
  /** Dotted key, e.g. `devices[2].traffic.rxEntries`. */
  readonly path: string;
  readonly rule: string;
}

export class SchemaError extends Error {
  constructor(
    readonly what: string,
    readonly issues: readonly SchemaIssue[],
  ) {
    super(`${what}: ${issues.map((i) => `${i.path || '(root)'}: ${i.rule}`).join('; ')}`);
    this.name = 'SchemaError';
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `0x${v.toString(16)}` : (JSON.stringify(v) ?? String(v)));

/** Whether a schema node has a default (so the key may be left out). */
function hasDefault(s: Schema): boolean {
  if (s.t === 'opt' || s.t === 'any') return true;
  if (s.t === 'obj') return Object.entries(s.fields).every(([k, f]) => !(s.required ?? []).includes(k) && hasDefault(f));
  if (s.t === 'map') return true;
  if (s.t === 'union') return s.def !== undefined;
  return 'def' in s && s.def !== undefined;
}

function parseU64(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n) return v;
  if (typeof v === 'string' && /^(0x[0-9a-fA-F_]+|[0-9_]+)$/.test(v)) {
    const b = BigInt(v.replace(/_/g, ''));
    return b < 1n << 64n ? b : undefined;
  }
  return undefined;
}

/** Validates `value` against `s`, filling defaults; pushes every issue found. */
function check(s: Schema, value: unknown, path: string, issues: SchemaIssue[]): unknown {
  if (s.t === 'any') return value;
  if (s.t === 'nullable') return value === null ? null : check(s.of, value, path, issues);
  if (s.t === 'opt') return value === undefined ? undefined : check(s.of, value, path, issues);
  if (value === undefined) {
    if (s.t === 'obj') return check(s, {}, path, issues);
    if (s.t === 'union' && s.def) return check(s, structuredClone(s.def), path, issues);
    if (s.t === 'map') return {};
    if ('def' in s && s.def !== undefined) return s.t === 'arr' ? check(s, structuredClone(s.def), path, issues) : s.def;
    issues.push({ path, rule: 'required' });
    return undefined;
  }
  switch (s.t) {
    case 'int':
    case 'num': {
      if (typeof value !== 'number' || !Number.isFinite(value) || (s.t === 'int' && !Number.isSafeInteger(value))) {
        issues.push({ path, rule: `must be ${s.t === 'int' ? 'an integer' : 'a number'}, got ${show(value)}` });
        return value;
      }
      if ((s.min !== undefined && value < s.min) || (s.max !== undefined && value > s.max)) {
        issues.push({ path, rule: `must be in [${s.min ?? '-inf'}, ${s.max ?? 'inf'}], got ${value}` });
      }
      return value;
    }
    case 'bool':
      if (typeof value !== 'boolean') issues.push({ path, rule: `must be true or false, got ${show(value)}` });
      return value;
    case 'str':
      if (typeof value !== 'string') issues.push({ path, rule: `must be a string, got ${show(value)}` });
      else if (s.enum && !s.enum.includes(value)) issues.push({ path, rule: `must be one of ${s.enum.join(', ')}, got ${show(value)}` });
      else if (s.pattern && !new RegExp(s.pattern).test(value)) issues.push({ path, rule: `must match ${s.pattern}, got ${show(value)}` });
      return value;
    case 'u64': {
      const b = parseU64(value);
      if (b === undefined) issues.push({ path, rule: `must be an unsigned 64-bit value (number or "0x..." string), got ${show(value)}` });
      return b;
    }
    case 'seed':
      if (!(typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value))))
        issues.push({ path, rule: `must be an integer or a string, got ${show(value)}` });
      return value;
    case 'arr': {
      if (!Array.isArray(value)) {
        issues.push({ path, rule: `must be a list, got ${show(value)}` });
        return value;
      }
      if ((s.min !== undefined && value.length < s.min) || (s.max !== undefined && value.length > s.max)) {
        issues.push({ path, rule: `must have ${s.min ?? 0}..${s.max ?? 'any'} entries, got ${value.length}` });
        // Too many: refused already; checking each entry (a million devices) would only cost
        // seconds and a gigabyte to say more about a document that will not run.
        if (s.max !== undefined && value.length > s.max) return value;
      }
      return value.map((v, i) => check(s.of, v, `${path}[${i}]`, issues));
    }
    case 'map': {
      if (!isObj(value)) {
        issues.push({ path, rule: `must be an object, got ${show(value)}` });
        return value;
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (s.keys && !new RegExp(s.keys).test(k)) issues.push({ path: join(path, k), rule: `key must match ${s.keys}` });
        out[k] = check(s.of, v, join(path, k), issues);
      }
      return out;
    }
    case 'obj': {
      if (!isObj(value)) {
        issues.push({ path, rule: `must be an object, got ${show(value)}` });
        return value;
      }
      const out: Record<string, unknown> = {};
      if (!s.open) {
        for (const k of Object.keys(value))
          if (!(k in s.fields)) issues.push({ path: join(path, k), rule: `unknown key (known: ${Object.keys(s.fields).join(', ')})` });
      }
      for (const [k, f] of Object.entries(s.fields)) {
        if (value[k] === undefined && (s.required ?? []).includes(k)) {
          issues.push({ path: join(path, k), rule: 'required' });
          continue;
        }
        const v = check(f, value[k], join(path, k), issues);
        if (v !== undefined) out[k] = v;
      }
      return out;
    }
    case 'union': {
      if (!isObj(value)) {
        issues.push({ path, rule: `must be an object, got ${show(value)}` });
        return value;
      }
      const tag = value[s.tag];
      const variant = typeof tag === 'string' ? s.variants[tag] : undefined;
      if (!variant) {
        issues.push({ path: join(path, s.tag), rule: `must be one of ${Object.keys(s.variants).join(', ')}, got ${show(tag)}` });
        return value;
      }
      return check(variant, value, path, issues);
    }
  }
}

/** Validates and fills defaults; throws SchemaError listing every issue. */
export function validate<T>(s: Schema, value: unknown, what: string): T {
  const issues: SchemaIssue[] = [];
  const out = check(s, value, '', issues);
  if (issues.length) throw new SchemaError(what, issues);
  return out as T;
}

/** Like validate, returning the issues instead of throwing. */
export function issuesOf(s: Schema, value: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  check(s, value, '', issues);
  return issues;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON Schema (draft 2020-12) for a node. */
function toJson(s: Schema): { [k: string]: Json } {
  const doc = (o: { [k: string]: Json }, d?: string) => (d ? { description: d, ...o } : o);
  switch (s.t) {
    case 'any':
      return doc({}, s.doc);
    case 'nullable':
      return { anyOf: [toJson(s.of), { type: 'null' }] };
    case 'opt':
      return toJson(s.of);
    case 'int':
    case 'num': {
      const o: { [k: string]: Json } = { type: s.t === 'int' ? 'integer' : 'number' };
      if (s.min !== undefined) o.minimum = s.min;
      if (s.max !== undefined) o.maximum = s.max;
      if (s.def !== undefined) o.default = s.def;
      return doc(o, s.doc);
    }
    case 'bool':
      return doc(s.def !== undefined ? { type: 'boolean', default: s.def } : { type: 'boolean' }, s.doc);
    case 'str': {
      const o: { [k: string]: Json } = { type: 'string' };
      if (s.enum) o.enum = [...s.enum];
      if (s.pattern) o.pattern = s.pattern;
      if (s.def !== undefined) o.default = s.def;
      return doc(o, s.doc);
    }
    case 'u64':
      return doc(
        {
          anyOf: [
            { type: 'integer', minimum: 0 },
            { type: 'string', pattern: '^(0x[0-9a-fA-F_]+|[0-9_]+)$' },
          ],
        },
        s.doc,
      );
    case 'seed':
      return doc({ anyOf: [{ type: 'integer' }, { type: 'string' }] }, s.doc);
    case 'arr': {
      const o: { [k: string]: Json } = { type: 'array', items: toJson(s.of) };
      if (s.min !== undefined) o.minItems = s.min;
      if (s.max !== undefined) o.maxItems = s.max;
      return doc(o, s.doc);
    }
    case 'map': {
      const o: { [k: string]: Json } = { type: 'object', additionalProperties: toJson(s.of) };
      if (s.keys) o.propertyNames = { pattern: s.keys };
      return doc(o, s.doc);
    }
    case 'obj': {
      const props: { [k: string]: Json } = {};
      for (const [k, f] of Object.entries(s.fields)) props[k] = toJson(f);
      const required = Object.entries(s.fields)
        .filter(([k, f]) => (s.required ?? []).includes(k) || !hasDefault(f))
        .map(([k]) => k);
      const o: { [k: string]: Json } = { type: 'object', properties: props };
      if (required.length) o.required = required;
      if (!s.open) o.additionalProperties = false;
      return doc(o, s.doc);
    }
    case 'union':
      return doc(
        {
          ...(s.def ? { default: s.def as { [k: string]: Json } } : {}),
          oneOf: Object.entries(s.variants).map(([k, v]) => {
            const j = toJson(v);
            (j.properties as { [k: string]: Json })[s.tag] = { const: k };
            return j;
          }),
        },
        s.doc,
      );
  }
}

export function toJsonSchema(s: Schema, id: string, title: string): { [k: string]: Json } {
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: id, title, ...toJson(s) };
}

// Builders, so contracts read as tables.
export const int = (def?: number, min?: number, max?: number, doc?: string): Schema => ({ t: 'int', def, min, max, doc });
export const num = (def?: number, min?: number, max?: number, doc?: string): Schema => ({ t: 'num', def, min, max, doc });
export const bool = (def?: boolean, doc?: string): Schema => ({ t: 'bool', def, doc });
export const str = (def?: string, doc?: string, pattern?: string): Schema => ({ t: 'str', def, doc, pattern });
export const oneOf = (values: readonly string[], def?: string, doc?: string): Schema => ({ t: 'str', enum: values, def, doc });
export const u64 = (def?: bigint, doc?: string): Schema => ({ t: 'u64', def, doc });
export const obj = (fields: Record<string, Schema>, doc?: string, required?: readonly string[]): Extract<Schema, { t: 'obj' }> => ({
  t: 'obj',
  fields,
  doc,
  required,
});
export const arr = (of: Schema, def?: readonly unknown[], doc?: string, min?: number, max?: number): Schema => ({ t: 'arr', of, def, doc, min, max });
export const opt = (of: Schema): Schema => ({ t: 'opt', of });
export const nullable = (of: Schema): Schema => ({ t: 'nullable', of });
export const map = (of: Schema, doc?: string, keys?: string): Schema => ({ t: 'map', of, doc, keys });
export const union = (tag: string, variants: Record<string, Extract<Schema, { t: 'obj' }>>, doc?: string, def?: Record<string, unknown>): Schema => ({
  t: 'union',
  tag,
  variants,
  doc,
  def,
});
export const any = (doc?: string): Schema => ({ t: 'any', doc });
