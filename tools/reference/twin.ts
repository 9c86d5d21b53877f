// SPDX-License-Identifier: Apache-2.0
// The twin's side of a reference comparison: run the scenario that describes a recipe's
// machine (tools/reference/scenarios/<recipe>.json) in one process and read off the same
// things the converter reads off QEMU: each kernel's SMMU probe (register accesses and command
// batches), the rest of its accesses and batches, its SMMU and IOMMU log lines, and what each
// device's DMA got from the SMMU in each phase of the crash.
import { CMD, commandForOpcode } from '@kdump-twin/smmu-arch';
import type { ConsumedCommand } from '@kdump-twin/smmu-model';
import { parseScenario, runScenario, type AccessView, type PlatformRole, type RunViews } from '@kdump-twin/scenario';
import type { LogLine } from '@kdump-twin/kernel';
import type { DmaRecord } from '@kdump-twin/endpoint';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addBatchRun,
  PHASES,
  type Phase,
  type RefBatchRun,
  type RefCommand,
  type RefDevice,
  type RefKernel,
  type RefMmio,
  type RefOutcomeRun,
} from './recording';

/** What the twin did, in the recording's terms (the parts a comparison reads). */
export interface TwinRun {
  readonly idr: Readonly<Record<string, string>>;
  readonly kernels: { readonly primary: RefKernel; readonly kdump: RefKernel };
  readonly devices: readonly RefDevice[];
}

export function scenarioPath(recipe: string): string {
  return join(__dirname, 'scenarios', `${recipe}.json`);
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const STE_RANGE_ALL = 31n;

/** A consumed command in the fields QEMU's trace prints for it. */
export function refCommand(words: readonly bigint[]): RefCommand {
  const opcode = Number(CMD.get(words, 'Opcode'));
  const l = commandForOpcode(opcode);
  const op = l ? l.name.replace(/^cmd-/, '') : `OP_0x${opcode.toString(16)}`;
  const g = (f: string) => l!.get(words, f);
  switch (op) {
    case 'CFGI_STE':
    case 'CFGI_CD':
    case 'CFGI_CD_ALL':
      return { op: op === 'CFGI_CD_ALL' ? 'CFGI_CD' : op, sid: Number(g('StreamID')) };
    case 'CFGI_STE_RANGE': {
      const range = g('Range');
      const mask = range === STE_RANGE_ALL ? 0xffff_ffff : 2 ** (Number(range) + 1) - 1;
      const start = Number(g('StreamID')) & ~mask;
      return { op, range: [start >>> 0, (start + mask) >>> 0] };
    }
    case 'TLBI_NH_ASID':
      return { op, asid: Number(g('ASID')) };
    case 'TLBI_NH_VA':
      return { op, asid: Number(g('ASID')) };
    case 'TLBI_S12_VMALL':
      return { op, vmid: Number(g('VMID')) };
    default:
      return { op };
  }
}

/** Splits a kernel's accesses where its SMMU probe ends: the CR0ACK read that sees the SMMUEN it wrote. */
function splitProbe(trace: readonly AccessView[]): { probe: readonly AccessView[]; after: readonly AccessView[] } {
  let smmuen = false;
  for (const [i, a] of trace.entries()) {
    if (a.register === 'CR0' && a.dir === 'write' && (BigInt(a.value) & 1n) === 1n) smmuen = true;
    if (smmuen && a.register === 'CR0ACK' && a.dir === 'read' && (BigInt(a.value) & 1n) === 1n)
      return { probe: trace.slice(0, i + 1), after: trace.slice(i + 1) };
  }
  return { probe: trace, after: [] };
}

/** Each CMDQ_PROD write publishes the commands from the previous PROD up to its value. */
function batches(trace: readonly AccessView[], consumed: readonly ConsumedCommand[]): RefCommand[][] {
  const out: RefCommand[][] = [];
  let next = 0;
  for (const a of trace) {
    if (a.register !== 'CMDQ_PROD' || a.dir !== 'write') continue;
    const prod = Number(BigInt(a.value) & 0xfffffn);
    const batch: RefCommand[] = [];
    while (next < consumed.length && consumed[next]!.index !== prod) batch.push(refCommand(consumed[next++]!.words));
    if (batch.length) out.push(batch);
  }
  return out;
}

function kernelRecord(trace: readonly AccessView[], consumed: readonly ConsumedCommand[], log: readonly LogLine[], filter: RegExp): RefKernel {
  const { probe, after } = splitProbe(trace);
  const all = batches(trace, consumed);
  const probeBatches = batches(probe, consumed);
  const afterBatches: RefBatchRun[] = [];
  for (const b of all.slice(probeBatches.length)) addBatchRun(afterBatches, b);
  const mmio: RefMmio[] = probe.map((a) => ({
    register: a.register,
    offset: hex(a.offset),
    dir: a.dir,
    size: a.size as 4 | 8,
    value: a.value,
    repeat: a.repeat,
  }));
  const afterMmio: Record<string, number> = {};
  for (const a of after) afterMmio[`${a.register} ${a.dir}`] = (afterMmio[`${a.register} ${a.dir}`] ?? 0) + a.repeat;
  const dmesg = log.map((l) => (l.device ? `${l.device}: ${l.text}` : l.text)).filter((l) => filter.test(l));
  return {
    probe: { mmio, commandBatches: probeBatches },
    after: { mmio: Object.fromEntries(Object.entries(afterMmio).sort()), batches: afterBatches },
    dmesg,
    steps: [],
  };
}

/** QEMU's classes of a translation (recording.ts RefOutcomeRun) for a completion of the twin. */
export function outcomeOf(r: DmaRecord): { outcome: RefOutcomeRun['outcome']; event?: string } {
  const c = r.completion;
  if (c.outcome === 'translated') return { outcome: 'translated' };
  if (c.outcome === 'bypassed') return { outcome: c.path === 'gbpa' ? 'disabled' : 'bypass' };
  // QEMU traces an STE abort and a GBPA abort (SMMUEN=0, GBPA.ABORT=1) alike, with no event.
  if (c.path === 'ste-abort' || c.path === 'gbpa') return { outcome: 'abort' };
  return { outcome: 'error', ...(c.event ? { event: c.event } : { event: c.outcome }) };
}

/** Runs a recipe's scenario document and reads it off as a TwinRun. */
export async function runTwin(doc: unknown, devices: readonly { name: string; sid: number }[], filter: RegExp): Promise<TwinRun> {
  const spec = parseScenario(doc);
  const consumed: ConsumedCommand[] = [];
  const dma: DmaRecord[] = [];
  let platform: PlatformRole | undefined;
  let views: RunViews | undefined;
  await runScenario(spec, {
    onPlatform: (p) => {
      platform = p;
      p.smmus[0]!.onCommand((c) => consumed.push(c));
      p.observers.push({ dma: (r) => dma.push(r) });
    },
    onViews: (v) => (views = v),
  });
  const p = platform!;
  const v = views!;
  const kdumpAt = p.kdumpAt ?? Infinity;
  const kdumpTrace = v.kdump?.trace ?? [];
  const idr: Record<string, string> = {};
  for (const a of v.primary.trace) if (a.dir === 'read' && /^(IDR[0-5]|IIDR|AIDR)$/.test(a.register) && !(a.register in idr)) idr[a.register] = a.value;
  const crash = p.crashAt ?? Infinity;
  const first = kdumpTrace[0]?.time ?? Infinity;
  const reset = kdumpTrace.find((a) => a.register === 'CR0' && a.dir === 'write')?.time ?? Infinity;
  const phaseAt = (t: number): Phase => (t < crash ? 'primary' : t < first ? 'crashed' : t < reset ? 'kdump-before-reset' : 'kdump');
  const runs = new Map<string, Record<Phase, RefOutcomeRun[]>>(
    devices.map((d) => [d.name, Object.fromEntries(PHASES.map((x) => [x, []])) as unknown as Record<Phase, RefOutcomeRun[]>]),
  );
  const S = 1e-9;
  for (const r of dma) {
    const list = runs.get(r.device)?.[phaseAt(r.time)];
    if (!list) continue;
    const o = outcomeOf(r);
    const at = (r.time - crash) * S;
    const last = list.at(-1);
    if (last && last.outcome === o.outcome && last.event === o.event) list[list.length - 1] = { ...last, count: last.count + 1, last: at };
    else list.push({ ...o, count: 1, first: at, last: at });
  }
  return {
    idr,
    kernels: {
      primary: kernelRecord(
        v.primary.trace,
        consumed.filter((c) => c.time < kdumpAt),
        v.primary.log,
        filter,
      ),
      kdump: kernelRecord(
        kdumpTrace,
        consumed.filter((c) => c.time >= kdumpAt),
        v.kdump?.log ?? [],
        filter,
      ),
    },
    devices: devices.map((d) => ({ name: d.name, sid: d.sid, phases: runs.get(d.name)! })),
  };
}

export function loadScenario(recipe: string): unknown {
  return JSON.parse(readFileSync(scenarioPath(recipe), 'utf8'));
}
