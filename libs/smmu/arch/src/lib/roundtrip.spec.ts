// SPDX-License-Identifier: Apache-2.0
// Seeded property tests over every format: encode/decode round trips, RES0 reporting, and the
// shape rules every field table must obey. Seeds are fixed so a failure replays exactly.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { findFormat, formatNames, REGISTERS, type FieldSpec, type Layout, mask } from '../index';

const SEED = 0x5eed_c0de;
const RUNS = 150;

/** A random value that fits the field: aligned in place for address fields. */
function fieldValue(f: FieldSpec): fc.Arbitrary<bigint> {
  const raw = fc.bigInt({ min: 0n, max: mask(f.width) });
  return f.address ? raw.map((v) => v << BigInt(f.lsb)) : raw;
}

function fieldsOf(l: Layout): fc.Arbitrary<Record<string, bigint>> {
  const rec: Record<string, fc.Arbitrary<bigint>> = {};
  for (const f of l.fields) rec[f.name] = fieldValue(f);
  return fc.record(rec);
}

function wordsOf(l: Layout): fc.Arbitrary<bigint[]> {
  return fc.array(fc.bigInt({ min: 0n, max: mask(l.wordBits) }), { minLength: l.words, maxLength: l.words });
}

const layouts = formatNames().map((n) => findFormat(n)!);

describe('every format: encode then decode gives the fields back', () => {
  for (const l of layouts) {
    it(l.name, () => {
      fc.assert(
        fc.property(fieldsOf(l), (values) => {
          const r = l.encode(values);
          assert.ok(r.ok, r.ok ? '' : r.error.message);
          const d = l.decode(r.words);
          assert.deepEqual({ ...d.fields }, { ...values });
          assert.deepEqual(d.res0, [], 'encode never sets RES0 bits');
          for (const [i, w] of r.words.entries()) assert.equal(w & l.res0Masks[i]!, 0n);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    });
  }
});

describe('every format: decode then encode keeps every non-RES0 bit', () => {
  for (const l of layouts) {
    it(l.name, () => {
      fc.assert(
        fc.property(wordsOf(l), (words) => {
          const d = l.decode(words);
          const r = l.encode(d.fields as Record<string, bigint>);
          assert.ok(r.ok, r.ok ? '' : r.error.message);
          for (const [i, w] of words.entries()) assert.equal(r.words[i], w & ~l.res0Masks[i]!, `word ${i}`);
          const res0Set = words.some((w, i) => (w & l.res0Masks[i]!) !== 0n);
          assert.equal(d.res0.length > 0, res0Set, 'res0 is reported exactly when a RES0 bit is set');
          let rebuilt = words.map(() => 0n);
          for (const v of d.res0) rebuilt[v.word] = rebuilt[v.word]! | (v.value << BigInt(v.lsb));
          rebuilt = rebuilt.map((w, i) => w & l.res0Masks[i]!);
          assert.deepEqual(
            rebuilt,
            words.map((w, i) => w & l.res0Masks[i]!),
            'the runs cover exactly the RES0 bits set',
          );
        }),
        { seed: SEED + 1, numRuns: RUNS },
      );
    });
  }
});

describe('encode rejects what does not fit, naming field and width', () => {
  for (const l of layouts) {
    it(l.name, () => {
      for (const f of l.fields) {
        const tooWide = f.address ? 1n << BigInt(f.lsb + f.width) : 1n << BigInt(f.width);
        const r = l.encode({ [f.name]: tooWide });
        if (f.lsb + f.width === l.wordBits && f.address) {
          assert.equal(r.ok, false);
          continue;
        }
        assert.equal(r.ok, false, `${l.name}.${f.name} accepted ${tooWide}`);
        if (!r.ok) {
          assert.equal(r.error.field, f.name);
          assert.equal(r.error.rule, 'width');
          assert.match(r.error.message, new RegExp(`${f.name}\\b.*${f.width} bit`));
        }
        if (f.address && f.lsb > 0) {
          const unaligned = l.encode({ [f.name]: 1n << BigInt(f.lsb - 1) });
          assert.equal(unaligned.ok, false);
          if (!unaligned.ok) assert.equal(unaligned.error.rule, 'alignment');
        }
      }
    });
  }
});

describe('table shape', () => {
  it('sizes: STE and CD 64 bytes, commands 16, events 32, descriptors 8', () => {
    for (const l of layouts) {
      if (l.kind === 'register') continue;
      const expected = l.name === 'ste' || l.name === 'cd' ? 64 : l.name.startsWith('cmd') ? 16 : l.name.startsWith('evt') ? 32 : 8;
      assert.equal(l.sizeBytes, expected, l.name);
      assert.equal(l.words * 8, l.sizeBytes, l.name);
    }
  });

  it('registers: unique, naturally aligned offsets; inside the 0xE00 Linux maps except the ID block and the Secure page', () => {
    const seen = new Map<number, string>();
    for (const r of REGISTERS) {
      assert.equal(r.offset % (r.width / 8), 0, `${r.name} misaligned`);
      // Linux maps ARM_SMMU_REG_SZ (0xE00) of each page; the ID block (0xFD0-0xFFC, IHI0070 6.2)
      // and the Secure page (0x8000+) lie beyond it, within the 64KB page.
      const beyond = r.secure || (r.offset >= 0xfd0 && r.offset <= 0xffc);
      assert.ok(r.offset + r.width / 8 <= (beyond ? 0x10000 : 0xe00), `${r.name} beyond ${beyond ? 'its page' : '0xE00'}`);
      for (let b = 0; b < r.width / 8; b += 4) {
        const at = r.absoluteOffset + b;
        assert.equal(seen.get(at), undefined, `${r.name} overlaps ${seen.get(at)}`);
        seen.set(at, r.name);
      }
    }
  });

  it('every enumeration value and reserved range fits its field, and no value is both named and reserved', () => {
    for (const l of layouts) {
      for (const f of l.fields) {
        for (const [k, v] of Object.entries(f.values ?? {})) {
          assert.ok(BigInt(v) <= mask(f.width), `${l.name}.${f.name}.${k}`);
          for (const r of f.reserved ?? []) assert.ok(v < r.min || v > r.max, `${l.name}.${f.name}.${k} is reserved`);
        }
        for (const r of f.reserved ?? []) assert.ok(r.min <= r.max && BigInt(r.max) <= mask(f.width), `${l.name}.${f.name} reserved range`);
        assert.ok(f.doc.length > 0, `${l.name}.${f.name} has no doc`);
      }
    }
  });

  it('every register guard names registers and fields that exist', () => {
    for (const r of REGISTERS) {
      for (const g of r.guards) {
        if (g.fields !== 'all') for (const name of g.fields) assert.ok(r.field(name), `${r.name} guard names ${name}`);
        for (const t of g.when) assert.ok(findFormat(t.register)?.field(t.field), `${r.name} guard term ${t.register}.${t.field}`);
      }
    }
  });
});

describe('every field: the number reader agrees with get() on random dwords', () => {
  for (const l of layouts) {
    it(l.name, () => {
      fc.assert(
        fc.property(wordsOf(l), (words) => {
          const halves = words.flatMap((w) => [Number(w & 0xffffffffn), Number((w >> 32n) & 0xffffffffn)]);
          for (const f of l.fields) {
            const want = l.get(words, f.name);
            const got = l.reader(f.name)(halves);
            // Exact below 2^53; above, the reader is approximate but never below 2^53 (see Layout.reader).
            if (want < 2n ** 53n) assert.equal(got, Number(want), `${l.name}.${f.name}`);
            else assert.ok(got >= 2 ** 53, `${l.name}.${f.name}: ${got} for ${want}`);
          }
        }),
        { seed: SEED, numRuns: 40 },
      );
    });
  }
});
