// SPDX-License-Identifier: Apache-2.0
// JSON views of layouts and decodes, shared by the CLI and (later) the services. Values that do
// not fit a double exactly (>= 2^53) become hex strings.

import type { Decoded, FieldSpec, Layout } from './layout';
import { RegisterLayout } from './registers';

export type JsonNumber = number | string;

export function jsonValue(v: bigint): JsonNumber {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`;
}

export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export interface FieldJson {
  name: string;
  word: number;
  lsb: number;
  width: number;
  values?: Record<string, number>;
  reserved?: { min: number; max: number; rule: string }[];
  address?: boolean;
  fixed?: JsonNumber;
  doc: string;
}

export interface LayoutJson {
  format: string;
  kind: 'register' | 'structure';
  offset?: number;
  page?: 0 | 1;
  sizeBytes: number;
  access?: string;
  reset?: string;
  section: string;
  doc: string;
  fields: FieldJson[];
}

function fieldJson(f: FieldSpec): FieldJson {
  const out: FieldJson = { name: f.name, word: f.word, lsb: f.lsb, width: f.width, doc: f.doc };
  if (f.values) out.values = { ...f.values };
  if (f.reserved) out.reserved = f.reserved.map((r) => ({ ...r }));
  if (f.address) out.address = true;
  if (f.fixed !== undefined) out.fixed = jsonValue(f.fixed);
  return out;
}

export function layoutJson(l: Layout): LayoutJson {
  const base: LayoutJson = { format: l.name, kind: l.kind, sizeBytes: l.sizeBytes, section: l.section, doc: l.doc, fields: l.fields.map(fieldJson) };
  if (l instanceof RegisterLayout) {
    return {
      format: l.name,
      kind: l.kind,
      offset: l.offset,
      page: l.page,
      sizeBytes: l.sizeBytes,
      access: l.access,
      reset: typeof l.reset === 'bigint' ? hex(l.reset) : l.reset,
      section: l.section,
      doc: l.doc,
      fields: base.fields,
    };
  }
  return base;
}

export interface DecodedJson {
  format: string;
  fields: Record<string, JsonNumber>;
  names: Record<string, string>;
  res0: { bits: string; word: number; lsb: number; width: number; value: JsonNumber }[];
  reserved: { field: string; value: JsonNumber; rule: string }[];
}

export function decodedJson(d: Decoded): DecodedJson {
  const fields: Record<string, JsonNumber> = {};
  for (const [k, v] of Object.entries(d.fields) as [string, bigint][]) fields[k] = jsonValue(v);
  return {
    format: d.format,
    fields,
    names: { ...(d.names as Record<string, string>) },
    res0: d.res0.map((r) => ({ bits: r.bits, word: r.word, lsb: r.lsb, width: r.width, value: jsonValue(r.value) })),
    reserved: d.reserved.map((r) => ({ field: r.field, value: jsonValue(r.value), rule: r.rule })),
  };
}
