// SPDX-License-Identifier: Apache-2.0
// Maps the architecture library's layouts and decodes onto the twin.arch.v1 wire messages.

// twin.arch.v1 alone: the package index would load every service's generated code as well.
import * as archV1 from '@kdump-twin/contracts/arch/v1';
import { type Decoded, type Layout, RegisterLayout, hex } from '@kdump-twin/smmu-arch';

export function toFormatLayout(l: Layout): archV1.FormatLayout {
  const reg = l instanceof RegisterLayout ? l : undefined;
  return {
    format: l.name,
    kind: reg ? archV1.FormatKind.FORMAT_KIND_REGISTER : archV1.FormatKind.FORMAT_KIND_STRUCTURE,
    offset: reg?.offset,
    page: reg?.page,
    sizeBytes: l.sizeBytes,
    access: reg?.access,
    reset: reg ? (typeof reg.reset === 'bigint' ? hex(reg.reset) : reg.reset) : undefined,
    section: l.section,
    doc: l.doc,
    fields: l.fields.map((f) => ({
      name: f.name,
      word: f.word,
      lsb: f.lsb,
      width: f.width,
      values: { ...(f.values ?? {}) },
      reserved: (f.reserved ?? []).map((r) => ({ min: r.min, max: r.max, rule: r.rule })),
      address: f.address === true,
      fixed: f.fixed === undefined ? undefined : f.fixed.toString(),
      doc: f.doc,
    })),
  };
}

export function toDecodedFormat(d: Decoded, words: readonly bigint[]): archV1.DecodedFormat {
  const names = d.names as Record<string, string | undefined>;
  return {
    format: d.format,
    words: words.map((w) => w.toString()),
    fields: (Object.entries(d.fields) as [string, bigint][]).map(([name, value]) => ({ name, value: value.toString(), enumName: names[name] ?? '' })),
    res0: d.res0.map((r) => ({ bits: r.bits, word: r.word, lsb: r.lsb, width: r.width, value: r.value.toString() })),
    reserved: d.reserved.map((r) => ({ field: r.field, value: r.value.toString(), rule: r.rule })),
  };
}
