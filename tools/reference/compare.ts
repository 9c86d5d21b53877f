// SPDX-License-Identifier: Apache-2.0
// Real Linux (a recording) against the twin (a TwinRun), aspect by aspect, per kernel:
//   write-order  the registers each SMMU probe writes, in order
//   values       the fields of each value written (address fields left out: allocations differ)
//   commands     the command batches of the probe, then every later run of batches of one shape,
//                each command with the fields QEMU traces (StreamID, ASID, range)
//   dmesg        the SMMU driver's and the iommu core's lines, the SMMU's device name normalised
//   dma          per device and crash phase, the sequence of what its DMA got from the SMMU
// Each aspect gets a score (items matched in order / items on the larger side) and a list of
// differences written so that the same difference reads the same in every run: they are the
// keys docs/fidelity.md explains.
import { findRegister } from '@kdump-twin/smmu-arch';
import { PHASES, type RefCommand, type RefDevice, type RefKernel, type Recording } from './recording';
import type { TwinRun } from './twin';

export interface Aspect {
  readonly name: string;
  readonly matched: number;
  readonly linux: number;
  readonly twin: number;
  readonly differences: readonly string[];
}

export interface Comparison {
  readonly recipe: string;
  readonly aspects: readonly Aspect[];
}

/** Longest common subsequence: the index pairs (i in a, j in b) matched in order. */
export function lcs<T>(a: readonly T[], b: readonly T[], eq: (x: T, y: T) => boolean = (x, y) => x === y): [number, number][] {
  const n = a.length;
  const m = b.length;
  const t: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) t[i]![j] = eq(a[i]!, b[j]!) ? t[i + 1]![j + 1]! + 1 : Math.max(t[i + 1]![j]!, t[i]![j + 1]!);
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (eq(a[i]!, b[j]!)) out.push([i++, j++]);
    else if (t[i + 1]![j]! >= t[i]![j + 1]!) i++;
    else j++;
  }
  return out;
}

const uniq = (xs: readonly string[]) => [...new Set(xs)];

function sequenceAspect(name: string, linux: readonly string[], twin: readonly string[], label: (s: string) => string): Aspect {
  const pairs = lcs(linux, twin);
  const inL = new Set(pairs.map(([i]) => i));
  const inT = new Set(pairs.map(([, j]) => j));
  const differences = uniq([
    ...linux.filter((_, i) => !inL.has(i)).map((s) => `${name}: Linux ${label(s)}, the twin does not`),
    ...twin.filter((_, j) => !inT.has(j)).map((s) => `${name}: the twin ${label(s)}, Linux does not`),
  ]);
  return { name, matched: pairs.length, linux: linux.length, twin: twin.length, differences };
}

function fieldsOf(register: string, value: string): Map<string, bigint> {
  const r = findRegister(register);
  const out = new Map<string, bigint>();
  if (!r) return out;
  for (const f of r.fields) if (!f.address) out.set(f.name, r.get([BigInt(value)], f.name));
  return out;
}

function valuesAspect(kernel: string, l: RefKernel, t: RefKernel): Aspect {
  const lw = l.probe.mmio.filter((a) => a.dir === 'write');
  const tw = t.probe.mmio.filter((a) => a.dir === 'write');
  const pairs = lcs(lw, tw, (x, y) => x.register === y.register);
  let matched = 0;
  const differences: string[] = [];
  for (const [i, j] of pairs) {
    const a = lw[i]!;
    const b = tw[j]!;
    const fa = fieldsOf(a.register, a.value);
    const fb = fieldsOf(b.register, b.value);
    const diff = [...fa].filter(([k, v]) => fb.get(k) !== v).map(([k, v]) => `${a.register}.${k} Linux ${v}, twin ${fb.get(k)}`);
    if (diff.length === 0) matched++;
    else differences.push(...diff.map((d) => `${kernel} values: ${d}`));
  }
  return { name: `${kernel} values`, matched, linux: lw.length, twin: tw.length, differences: uniq(differences) };
}

function idAspect(rec: Recording, twin: TwinRun): Aspect {
  const names = Object.keys(rec.idr);
  const differences: string[] = [];
  let matched = 0;
  for (const n of names) {
    const fa = fieldsOf(n, rec.idr[n]!);
    const fb = fieldsOf(n, twin.idr[n] ?? '0x0');
    const diff = [...fa].filter(([k, v]) => fb.get(k) !== v).map(([k, v]) => `id registers: ${n}.${k} Linux ${v}, twin ${fb.get(k)}`);
    if (diff.length === 0) matched++;
    differences.push(...diff);
  }
  return { name: 'id registers', matched, linux: names.length, twin: Object.keys(twin.idr).length, differences };
}

/** The SMMU's device name differs by firmware and platform (9050000.smmuv3, arm-smmu-v3.0.auto). */
export function normaliseDmesg(line: string): string {
  return line.replace(/^arm-smmu-v3 [^:]+: /, 'arm-smmu-v3 <smmu>: ');
}

/** The lines both sides model: the SMMU driver's, and the iommu core's group and policy lines. */
export const COMPARED_DMESG = /^arm-smmu-v3 |Adding to iommu group|^iommu: /;

function dmesgAspect(kernel: string, l: RefKernel, t: RefKernel): Aspect {
  const pick = (k: RefKernel) => k.dmesg.filter((x) => COMPARED_DMESG.test(x)).map(normaliseDmesg);
  return sequenceAspect(`${kernel} dmesg`, pick(l), pick(t), (s) => `prints "${s}"`);
}

/** A command with the fields QEMU traces for it: CFGI_STE(sid=0x8), TLBI_NH_ASID(asid=1), CFGI_STE_RANGE(0x0-0xffffffff). */
export function commandLabel(c: RefCommand): string {
  if (c.sid !== undefined) return `${c.op}(sid=0x${c.sid.toString(16)})`;
  if (c.range) return `${c.op}(0x${c.range[0].toString(16)}-0x${c.range[1].toString(16)})`;
  if (c.asid !== undefined) return `${c.op}(asid=${c.asid})`;
  if (c.vmid !== undefined) return `${c.op}(vmid=${c.vmid})`;
  return c.op;
}

function commandsAspect(kernel: string, l: RefKernel, t: RefKernel): Aspect[] {
  const probe = (k: RefKernel) => k.probe.commandBatches.map((b) => b.map(commandLabel).join(','));
  // A run of batches is named by its shape and its first batch's fields (whose StreamID, which ASID).
  const after = (k: RefKernel) => k.after.batches.map((b) => b.first.map(commandLabel).join(','));
  return [
    sequenceAspect(`${kernel} probe commands`, probe(l), probe(t), (s) => `issues [${s}]`),
    sequenceAspect(`${kernel} later commands`, after(l), after(t), (s) => `issues runs of [${s}]`),
  ];
}

function writeOrderAspect(kernel: string, l: RefKernel, t: RefKernel): Aspect {
  const w = (k: RefKernel) => k.probe.mmio.filter((a) => a.dir === 'write').map((a) => a.register);
  return sequenceAspect(`${kernel} write-order`, w(l), w(t), (s) => `writes ${s}`);
}

const label = (r: { outcome: string; event?: string }) => (r.event ? `${r.outcome}(${r.event})` : r.outcome);

function dmaAspect(l: readonly RefDevice[], t: readonly RefDevice[]): Aspect {
  let matched = 0;
  let total = 0;
  const differences: string[] = [];
  for (const d of l) {
    const td = t.find((x) => x.name === d.name);
    for (const ph of PHASES) {
      total++;
      const a = d.phases[ph].map(label);
      const b = td ? td.phases[ph].map(label) : [];
      if (a.join() === b.join()) matched++;
      else differences.push(`dma ${d.name} ${ph}: Linux [${a.join(' > ') || 'none'}], twin [${b.join(' > ') || 'none'}]`);
    }
  }
  return { name: 'dma outcome phases', matched, linux: total, twin: total, differences };
}

export function compare(rec: Recording, twin: TwinRun): Comparison {
  const aspects: Aspect[] = [idAspect(rec, twin)];
  for (const k of ['primary', 'kdump'] as const) {
    const l = rec.kernels[k];
    const t = twin.kernels[k];
    aspects.push(writeOrderAspect(k, l, t), valuesAspect(k, l, t), ...commandsAspect(k, l, t), dmesgAspect(k, l, t));
  }
  aspects.push(dmaAspect(rec.devices, twin.devices));
  return { recipe: rec.recipe.name, aspects };
}

/** The score table a run prints: one line per aspect. */
export function scoreTable(c: Comparison): string {
  const rows = c.aspects.map((a) => {
    const of = Math.max(a.linux, a.twin);
    const pct = of === 0 ? 100 : Math.round((100 * a.matched) / of);
    return `  ${a.name.padEnd(26)} ${String(a.matched).padStart(4)} / ${String(of).padEnd(4)} ${String(pct).padStart(3)}%  ${a.differences.length} difference${a.differences.length === 1 ? '' : 's'}`;
  });
  return [`${c.recipe}: real Linux vs the twin`, ...rows].join('\n');
}
