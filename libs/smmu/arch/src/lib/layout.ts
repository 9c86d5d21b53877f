// SPDX-License-Identifier: Apache-2.0
// Field tables and the one generic codec every SMMUv3 format derives from.
// Structures are arrays of little-endian 64-bit dwords (IHI0070); registers are one 32- or 64-bit value held in word 0.

/** A value of a field encoding that the architecture reserves or makes ILLEGAL. */
export interface ReservedRule {
  readonly min: number;
  readonly max: number;
  /** What the architecture says happens, e.g. "reserved, behaves as 0b000 (abort)". */
  readonly rule: string;
}

export interface FieldSpec {
  readonly name: string;
  /** Index of the 64-bit dword (structures); 0 for registers. */
  readonly word: number;
  /** Least significant bit within that dword. */
  readonly lsb: number;
  readonly width: number;
  /** Named encodings. */
  readonly values?: Readonly<Record<string, number>>;
  readonly reserved?: readonly ReservedRule[];
  /**
   * Address fields (S1ContextPtr, S2TTB, L2Ptr, ADDR, ...) hold an address in place, as Linux's
   * masks do: the value is `dword & mask`, the bits below lsb are zero, not shifted down.
   */
  readonly address?: boolean;
  /** The value this format requires (opcode of a command, ID of an event, descriptor type). */
  readonly fixed?: bigint;
  /**
   * The field is IGNORED (so its reserved encodings are harmless) while `field` holds one of
   * `values`, e.g. CD.TG1 while EPD1==1 (IHI0070 5.4) or STE.S2TG while stage 2 bypasses (5.2).
   */
  readonly ignoredWhen?: { readonly field: string; readonly values: readonly number[] };
  /** One line: meaning and the section it comes from. */
  readonly doc: string;
}

export type FormatKind = 'register' | 'structure';

export interface FormatSpec {
  readonly name: string;
  readonly kind: FormatKind;
  readonly sizeBytes: number;
  /** Number of 64-bit dwords (structures) or 1 (registers). */
  readonly words: number;
  /** Bit width of word 0 for registers (32 or 64); 64 for structures. */
  readonly wordBits: 32 | 64;
  readonly fields: readonly FieldSpec[];
  /** IHI0070 section (or Arm ARM section) the table comes from. */
  readonly section: string;
  readonly doc: string;
  /** A valid bit (STE.V, CD.V): while it is 0 every other field is IGNORED. */
  readonly validField?: string;
}

export interface Res0Violation {
  /** Location, `dw1[43:41]` for structures or `[15:14]` for registers. */
  readonly bits: string;
  readonly word: number;
  readonly lsb: number;
  readonly width: number;
  readonly value: bigint;
}

export interface ReservedEncoding {
  readonly field: string;
  readonly value: bigint;
  readonly rule: string;
}

export interface Decoded<N extends string = string> {
  readonly format: string;
  readonly fields: Readonly<Record<N, bigint>>;
  /** Enumeration names of the fields whose value has one. */
  readonly names: Readonly<Partial<Record<N, string>>>;
  readonly res0: readonly Res0Violation[];
  readonly reserved: readonly ReservedEncoding[];
}

export interface EncodeError {
  readonly field: string;
  readonly rule: string;
  readonly message: string;
}

export type EncodeResult = { readonly ok: true; readonly words: readonly bigint[] } | { readonly ok: false; readonly error: EncodeError };

export type FieldInput = bigint | number | string;

const MASK64 = (1n << 64n) - 1n;

export function mask(width: number): bigint {
  return width >= 64 ? MASK64 : (1n << BigInt(width)) - 1n;
}

export function bitRange(f: Pick<FieldSpec, 'lsb' | 'width'>): string {
  const hi = f.lsb + f.width - 1;
  return hi === f.lsb ? `[${hi}]` : `[${hi}:${f.lsb}]`;
}

function location(kind: FormatKind, word: number, lsb: number, width: number): string {
  const r = bitRange({ lsb, width });
  return kind === 'structure' ? `dw${word}${r}` : r;
}

/** A format's table plus the codec derived from it. The only place that shifts and masks. */
export class Layout<N extends string = string> implements FormatSpec {
  readonly name: string;
  readonly kind: FormatKind;
  readonly sizeBytes: number;
  readonly words: number;
  readonly wordBits: 32 | 64;
  readonly fields: readonly FieldSpec[];
  readonly section: string;
  readonly doc: string;
  readonly validField?: string;
  private readonly byName = new Map<string, FieldSpec>();
  private readonly shift = new Map<string, bigint>();
  private readonly fmask = new Map<string, bigint>();
  /** Per dword, the bits no field covers: RES0. */
  readonly res0Masks: readonly bigint[];

  constructor(spec: Omit<FormatSpec, 'fields'> & { fields: readonly FieldSpec[] }) {
    this.name = spec.name;
    this.kind = spec.kind;
    this.sizeBytes = spec.sizeBytes;
    this.words = spec.words;
    this.wordBits = spec.wordBits;
    this.fields = spec.fields;
    this.section = spec.section;
    this.doc = spec.doc;
    this.validField = spec.validField;
    const used = new Array<bigint>(spec.words).fill(0n);
    for (const f of spec.fields) {
      if (this.byName.has(f.name)) throw new Error(`${spec.name}: duplicate field ${f.name}`);
      if (f.word < 0 || f.word >= spec.words) throw new Error(`${spec.name}.${f.name}: word ${f.word} outside the format`);
      if (f.width < 1 || f.lsb < 0 || f.lsb + f.width > spec.wordBits) {
        throw new Error(`${spec.name}.${f.name}: bits ${bitRange(f)} outside a ${spec.wordBits}-bit word`);
      }
      const m = mask(f.width) << BigInt(f.lsb);
      if ((used[f.word]! & m) !== 0n) throw new Error(`${spec.name}.${f.name}: overlaps another field`);
      used[f.word] = used[f.word]! | m;
      this.byName.set(f.name, f);
      this.shift.set(f.name, BigInt(f.lsb));
      this.fmask.set(f.name, mask(f.width));
    }
    const wordMask = mask(spec.wordBits);
    this.res0Masks = used.map((u) => wordMask & ~u);
  }

  field(name: string): FieldSpec | undefined {
    return this.byName.get(name);
  }

  /** Field value; address fields in place (see FieldSpec.address). */
  get(words: readonly bigint[], name: N): bigint {
    const f = this.byName.get(name)!;
    const raw = ((words[f.word] ?? 0n) >> this.shift.get(name)!) & this.fmask.get(name)!;
    return f.address ? raw << this.shift.get(name)! : raw;
  }

  /** A copy of `words` with the field replaced. The value must fit (see check()). */
  with(words: readonly bigint[], name: N, value: bigint): bigint[] {
    const out = this.zero();
    for (let i = 0; i < out.length; i++) out[i] = words[i] ?? 0n;
    this.deposit(out, name, value);
    return out;
  }

  /** Writes a field into `words` in place; the value must already be checked. */
  deposit(words: bigint[], name: N, value: bigint): void {
    const f = this.byName.get(name)!;
    const sh = this.shift.get(name)!;
    const m = this.fmask.get(name)!;
    const raw = f.address ? value >> sh : value;
    words[f.word] = ((words[f.word] ?? 0n) & ~(m << sh)) | ((raw & m) << sh);
  }

  /**
   * A number-valued reader for the hot paths (table walks, STE/CD decode in the hardware model),
   * derived from the same field table. `halves` holds each little-endian dword as two uint32:
   * halves[base + 2*word] = bits [31:0], halves[base + 2*word + 1] = bits [63:32]. Address fields
   * come back in place. Exact up to 2^53; a wider value (address bits above [52] set) comes back
   * inexact but still >= 2^53, so range checks against any OAS/IPS (<= 52 bits) still fail it.
   */
  reader(name: N): (halves: ArrayLike<number>, base?: number) => number {
    const f = this.byName.get(name);
    if (!f) throw new Error(`${this.name} has no field ${name}`);
    return bitsReader(f.word, f.lsb + f.width - 1, f.lsb, f.address === true);
  }

  zero(): bigint[] {
    return new Array<bigint>(this.words).fill(0n);
  }

  /** Why `value` cannot go into field `name`, or undefined when it fits. */
  check(name: string, value: bigint): EncodeError | undefined {
    const f = this.byName.get(name);
    if (!f) {
      return { field: name, rule: 'unknown-field', message: `${this.name} has no field ${name} (fields: ${this.fields.map((x) => x.name).join(', ')})` };
    }
    const where = location(this.kind, f.word, f.lsb, f.width);
    if (value < 0n) {
      return { field: name, rule: 'negative', message: `${this.name}.${name} ${where}: value ${value} is negative` };
    }
    if (f.address) {
      const low = mask(f.lsb);
      if ((value & low) !== 0n) {
        return {
          field: name,
          rule: 'alignment',
          message: `${this.name}.${name} ${where}: address 0x${value.toString(16)} has bits below bit ${f.lsb} set (must be ${2 ** f.lsb}-byte aligned)`,
        };
      }
      if (value >> BigInt(f.lsb + f.width) !== 0n) {
        return {
          field: name,
          rule: 'width',
          message: `${this.name}.${name} ${where}: address 0x${value.toString(16)} does not fit in ${f.width} bits [${f.lsb + f.width - 1}:${f.lsb}]`,
        };
      }
      return undefined;
    }
    if (value > mask(f.width)) {
      return {
        field: name,
        rule: 'width',
        message: `${this.name}.${name} ${where}: value 0x${value.toString(16)} is wider than the field's ${f.width} bit${f.width === 1 ? '' : 's'} (max 0x${mask(f.width).toString(16)})`,
      };
    }
    return undefined;
  }

  /** Resolves a number, bigint, decimal/hex string or enumeration name for field `name`. */
  parseValue(name: string, input: FieldInput): { ok: true; value: bigint } | { ok: false; error: EncodeError } {
    const f = this.byName.get(name);
    if (!f) return { ok: false, error: this.check(name, 0n)! };
    if (typeof input === 'bigint') return { ok: true, value: input };
    if (typeof input === 'number') {
      if (!Number.isSafeInteger(input)) {
        return {
          ok: false,
          error: { field: name, rule: 'not-an-integer', message: `${this.name}.${name}: ${input} is not a safe integer; pass a bigint or a hex string` },
        };
      }
      return { ok: true, value: BigInt(input) };
    }
    const s = input.trim();
    if (f.values && Object.prototype.hasOwnProperty.call(f.values, s)) return { ok: true, value: BigInt(f.values[s]!) };
    if (/^(0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+|[0-9_]+)$/i.test(s)) return { ok: true, value: BigInt(s.replace(/_/g, '')) };
    const names = f.values ? ` or one of ${Object.keys(f.values).join(', ')}` : '';
    return { ok: false, error: { field: name, rule: 'not-a-number', message: `${this.name}.${name}: "${input}" is not a number${names}` } };
  }

  /** Builds the words from field values; `fixed` fields default to their required value. */
  encode(values: Readonly<Partial<Record<N, FieldInput>>> | Readonly<Record<string, FieldInput>>): EncodeResult {
    const words = this.zero();
    for (const f of this.fields) if (f.fixed !== undefined) this.deposit(words, f.name as N, f.fixed);
    for (const [name, input] of Object.entries(values as Record<string, FieldInput | undefined>)) {
      if (input === undefined) continue;
      const parsed = this.parseValue(name, input);
      if (!parsed.ok) return parsed;
      const err = this.check(name, parsed.value);
      if (err) return { ok: false, error: err };
      this.deposit(words, name as N, parsed.value);
    }
    return { ok: true, words };
  }

  /** Like encode() but for table-driven code that knows its values fit: throws on a bug. */
  build(values: Readonly<Partial<Record<N, FieldInput>>>): bigint[] {
    const r = this.encode(values);
    if (!r.ok) throw new Error(r.error.message);
    return [...r.words];
  }

  /** Decodes every field; never throws on guest data. Missing words read as 0. */
  decode(words: readonly bigint[]): Decoded<N> {
    const fields = {} as Record<N, bigint>;
    const names: Partial<Record<N, string>> = {};
    const reserved: ReservedEncoding[] = [];
    const invalid = this.validField !== undefined && this.get(words, this.validField as N) === 0n;
    for (const f of this.fields) {
      const v = this.get(words, f.name as N);
      fields[f.name as N] = v;
      if (f.values) {
        for (const [k, n] of Object.entries(f.values)) {
          if (BigInt(n) === v) {
            names[f.name as N] = k;
            break;
          }
        }
      }
      const ignored =
        (invalid && f.name !== this.validField) ||
        (f.ignoredWhen !== undefined && f.ignoredWhen.values.includes(Number(this.get(words, f.ignoredWhen.field as N))));
      if (f.reserved && !ignored) {
        for (const r of f.reserved) {
          if (v >= BigInt(r.min) && v <= BigInt(r.max)) reserved.push({ field: f.name, value: v, rule: r.rule });
        }
      }
      if (f.fixed !== undefined && v !== f.fixed) {
        reserved.push({ field: f.name, value: v, rule: `${this.name} requires ${f.name}=0x${f.fixed.toString(16)}` });
      }
    }
    return { format: this.name, fields, names, res0: this.res0Of(words), reserved };
  }

  /** RES0 bits that are set, as contiguous runs. */
  res0Of(words: readonly bigint[]): Res0Violation[] {
    const out: Res0Violation[] = [];
    for (let w = 0; w < this.words; w++) {
      const set = (words[w] ?? 0n) & this.res0Masks[w]!;
      if (set === 0n) continue;
      let b = 0;
      while (b < this.wordBits) {
        if (((set >> BigInt(b)) & 1n) === 0n) {
          b++;
          continue;
        }
        const lsb = b;
        while (b < this.wordBits && ((set >> BigInt(b)) & 1n) === 1n) b++;
        const width = b - lsb;
        out.push({ bits: location(this.kind, w, lsb, width), word: w, lsb, width, value: (set >> BigInt(lsb)) & mask(width) });
      }
    }
    return out;
  }
}

/** Declares a field by its architecture bit range [hi:lo] within dword `word`. */
export function fld(
  name: string,
  word: number,
  hi: number,
  lo: number,
  doc: string,
  extra: Omit<FieldSpec, 'name' | 'word' | 'lsb' | 'width' | 'doc'> = {},
): FieldSpec {
  return { name, word, lsb: lo, width: hi - lo + 1, doc, ...extra };
}

/** A one-bit field. */
export function bit(name: string, word: number, at: number, doc: string): FieldSpec {
  return { name, word, lsb: at, width: 1, doc };
}

/** An address field held in place (see FieldSpec.address). */
export function addr(name: string, word: number, hi: number, lo: number, doc: string): FieldSpec {
  return { name, word, lsb: lo, width: hi - lo + 1, doc, address: true };
}

export function reserved(min: number, max: number, rule: string): ReservedRule {
  return { min, max, rule };
}

export function structure(name: string, sizeBytes: number, section: string, doc: string, fields: readonly FieldSpec[], validField?: string): Layout {
  return new Layout({ name, kind: 'structure', sizeBytes, words: sizeBytes / 8, wordBits: 64, section, doc, fields, validField });
}

/**
 * A number-valued reader of bits [hi:lo] of dword `word`, over uint32 halves (see
 * Layout.reader). `inPlace` keeps the bits at their position (address fields). Use it for
 * ranges no field names, e.g. the RES0 output-address bits [50:48] of a 48-bit descriptor.
 */
export function bitsReader(word: number, hi: number, lo: number, inPlace = false): (halves: ArrayLike<number>, base?: number) => number {
  const width = hi - lo + 1;
  const w = 2 * word;
  const place = inPlace ? 2 ** lo : 1;
  const m = width >= 32 ? 0xffffffff : 2 ** width - 1;
  if (hi < 32) return (h, base = 0) => (((h[base + w]! >>> lo) & m) >>> 0) * place;
  if (lo >= 32) {
    const s = lo - 32;
    return (h, base = 0) => (((h[base + w + 1]! >>> s) & m) >>> 0) * place;
  }
  // Straddles bit 32: low part bits [31:lo], high part bits [hi-32:0].
  const hiMask = hi - 32 >= 31 ? 0xffffffff : 2 ** (hi - 32 + 1) - 1;
  const hiScale = 2 ** (32 - lo) * place;
  return (h, base = 0) => (h[base + w]! >>> lo) * place + ((h[base + w + 1]! & hiMask) >>> 0) * hiScale;
}
