// SPDX-License-Identifier: Apache-2.0
// QEMU's SMMUv3 trace and the stamped console of one cycle -> a decoded Recording.
// QEMU's trace lines are `pid@seconds.micros:event args` (the host clock, as the console
// stamps); the guest-error log lines QEMU writes into the same file have no stamp and take the
// last stamp seen. The kernels are told apart by the console: everything up to the primary
// kernel's "Bye!" (machine_kexec) is the primary kernel's, everything after is the kdump
// kernel's. Register names come from @kdump-twin/smmu-arch; QEMU folds page-1 offsets onto
// page 0 in its trace (EVENTQ_PROD at 0x100a8 shows as 0xa8), which is undone here.
import { registerAt, REGISTERS } from '@kdump-twin/smmu-arch';
import type { Recipe } from './recipe';
import { streamIdOf } from './recipe';
import {
  addBatchRun,
  PHASES,
  RECORDING_FORMAT,
  type Phase,
  type RefBatchRun,
  type RefCommand,
  type RefDevice,
  type RefKernel,
  type RefMmio,
  type RefOutcomeRun,
  type Recording,
} from './recording';
import type { StampedLine } from './qemu';

const TRACE_LINE = /^(\d+)@(\d+\.\d+):(\w+) ?(.*)$/;
const MMIO = /^addr: 0x([0-9a-f]+) val:0x([0-9a-f]+) size: 0x([48])\((\d+)\)$/;
const TRANSLATE = /^(\S+) sid=0x([0-9a-f]+) /;
const GUEST_FAIL = /^smmuv3-iommu-memory-region-(\d+)-\d+ translation failed for iova=0x[0-9a-f]+ ?\((\w+)\)/;
const PRINTK = /^\[\s*\d+\.\d+\] (.*)$/;

/** Registers that exist only on page 1 (IHI0070 6.2: the queue PROD/CONS pairs). */
const PAGE1 = new Map(REGISTERS.filter((r) => r.page === 1).map((r) => [r.offset, r]));

export function registerName(qemuOffset: number): { name: string; offset: number } {
  const direct = registerAt(qemuOffset);
  // Page 0 has nothing at a page-1 register's offset, so a trace offset there is a folded one.
  const p1 = PAGE1.get(qemuOffset);
  if (!direct && p1) return { name: p1.name, offset: p1.absoluteOffset };
  return { name: direct?.name ?? `UNKNOWN_0x${qemuOffset.toString(16)}`, offset: qemuOffset };
}

interface TraceEvent {
  readonly t: number;
  readonly ev: string;
  readonly args: string;
}

/** Parses QEMU's log file; guest-error lines are events named `guest_error` at the last stamp. */
export function parseTrace(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  let t = 0;
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    const m = TRACE_LINE.exec(raw);
    if (m) {
      t = Number(m[2]);
      out.push({ t, ev: m[3]!, args: m[4] ?? '' });
    } else {
      out.push({ t, ev: 'guest_error', args: raw });
    }
  }
  return out;
}

/** `host-seconds line` pairs as qemu.ts writes them. */
export function parseConsole(text: string): StampedLine[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const sp = l.indexOf(' ');
      return { t: Number(l.slice(0, sp)), line: l.slice(sp + 1).replace(/\r$/, '') };
    });
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

function commandOf(op: string): string {
  const n = op.replace(/^SMMU_CMD_/, '');
  return n === 'SYNC' ? 'CMD_SYNC' : n;
}

/** Folds the detail events QEMU prints after a command's opcode into the command. */
function withDetail(c: RefCommand, ev: string, args: string): RefCommand {
  let m: RegExpExecArray | null;
  if (ev === 'smmuv3_cmdq_cfgi_ste' && (m = /streamid= 0x([0-9a-f]+)/.exec(args))) return { ...c, sid: parseInt(m[1]!, 16) };
  if (ev === 'smmuv3_cmdq_cfgi_cd' && (m = /sid=0x([0-9a-f]+)/.exec(args))) return { ...c, sid: parseInt(m[1]!, 16) };
  if (ev === 'smmuv3_cmdq_cfgi_ste_range' && (m = /start=0x([0-9a-f]+) - end=0x([0-9a-f]+)/.exec(args)))
    return { ...c, range: [parseInt(m[1]!, 16), parseInt(m[2]!, 16)] };
  if (ev === 'smmuv3_cmdq_tlbi_nh_asid' && (m = /asid=(\d+)/.exec(args))) return { ...c, asid: Number(m[1]) };
  if (ev === 'smmuv3_cmdq_tlbi_s12_vmid' && (m = /vmid=(\d+)/.exec(args))) return { ...c, vmid: Number(m[1]) };
  if (ev === 'smmuv3_range_inval' || ev === 'smmuv3_s1_range_inval') {
    m = /vmid=(\d+) asid=(-?\d+) addr=0x([0-9a-f]+) tg=(\d+) num_pages=0x([0-9a-f]+) ttl=(\d+) leaf=(\d+)/.exec(args);
    if (!m) return c;
    const inval = [...(c.inval ?? []), { addr: `0x${m[3]}`, pages: parseInt(m[5]!, 16), tg: Number(m[4]), ttl: Number(m[6]), leaf: m[7] === '1' }];
    return { ...c, ...(Number(m[2]) >= 0 ? { asid: Number(m[2]) } : {}), inval };
  }
  return c;
}

interface KernelSpan {
  readonly from: number;
  readonly to: number;
}

function kernelRecord(events: readonly TraceEvent[], span: KernelSpan, console: readonly StampedLine[], crashT: number, filter: RegExp): RefKernel {
  const probeMmio: RefMmio[] = [];
  const probeBatches: RefCommand[][] = [];
  const afterMmio: Record<string, number> = {};
  const afterBatches: RefBatchRun[] = [];
  let inProbe = true;
  let smmuenWritten = false;
  let batch: RefCommand[] | null = null;
  const closeBatch = () => {
    if (!batch || batch.length === 0) return;
    if (inProbe) probeBatches.push(batch);
    else addBatchRun(afterBatches, batch);
    batch = null;
  };
  for (const e of events) {
    if (e.t < span.from || e.t >= span.to) continue;
    if (e.ev === 'smmuv3_read_mmio' || e.ev === 'smmuv3_write_mmio') {
      const m = MMIO.exec(e.args);
      if (!m) continue;
      const { name, offset } = registerName(parseInt(m[1]!, 16));
      const dir = e.ev === 'smmuv3_read_mmio' ? 'read' : 'write';
      const value = hex(BigInt(`0x${m[2]}`));
      if (inProbe) {
        const last = probeMmio.at(-1);
        if (dir === 'read' && last && last.dir === 'read' && last.register === name && last.value === value)
          probeMmio[probeMmio.length - 1] = { ...last, repeat: last.repeat + 1 };
        else probeMmio.push({ register: name, offset: hex(offset), dir, size: Number(m[3]) as 4 | 8, value, repeat: 1 });
        if (name === 'CR0' && dir === 'write' && (BigInt(value) & 1n) === 1n) smmuenWritten = true;
        if (name === 'CR0ACK' && dir === 'read' && smmuenWritten && (BigInt(value) & 1n) === 1n) inProbe = false;
      } else {
        const k = `${name} ${dir}`;
        afterMmio[k] = (afterMmio[k] ?? 0) + 1;
      }
    } else if (e.ev === 'smmuv3_cmdq_opcode') {
      batch ??= [];
      batch.push({ op: commandOf(e.args.replace(/^<--- /, '').trim()) });
    } else if (e.ev === 'smmuv3_cmdq_consume_out') {
      closeBatch();
    } else if (batch && batch.length > 0 && e.ev.startsWith('smmuv3_')) {
      batch[batch.length - 1] = withDetail(batch[batch.length - 1]!, e.ev, e.args);
    }
  }
  closeBatch();
  const lines = console.filter((l) => l.t >= span.from && l.t < span.to);
  const dmesg = lines.map((l) => PRINTK.exec(l.line)?.[1]).filter((l): l is string => l !== undefined && filter.test(l));
  const steps = lines
    .map((l) => ({ m: /^REF [0-9.]+ (.*)$/.exec(l.line), t: l.t }))
    .filter((x) => x.m)
    .map((x) => ({ step: x.m![1]!, at: round(x.t - crashT) }));
  return {
    probe: { mmio: probeMmio, commandBatches: probeBatches },
    after: { mmio: Object.fromEntries(Object.entries(afterMmio).sort()), batches: afterBatches },
    dmesg,
    steps,
  };
}

const round = (s: number) => Math.round(s * 1000) / 1000;

function deviceOutcomes(events: readonly TraceEvent[], recipe: Recipe, bounds: { crash: number; kdumpFirst: number; kdumpReset: number }): RefDevice[] {
  const phaseAt = (t: number): Phase =>
    t < bounds.crash ? 'primary' : t < bounds.kdumpFirst ? 'crashed' : t < bounds.kdumpReset ? 'kdump-before-reset' : 'kdump';
  const bySid = new Map<number, Record<Phase, RefOutcomeRun[]>>();
  for (const d of recipe.devices) bySid.set(streamIdOf(d), Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Record<Phase, RefOutcomeRun[]>);
  const add = (sid: number, t: number, outcome: RefOutcomeRun['outcome'], event?: string) => {
    const runs = bySid.get(sid)?.[phaseAt(t)];
    if (!runs) return;
    const at = round(t - bounds.crash);
    const last = runs.at(-1);
    if (last && last.outcome === outcome && last.event === event) runs[runs.length - 1] = { ...last, count: last.count + 1, last: at };
    else runs.push({ outcome, ...(event ? { event } : {}), count: 1, first: at, last: at });
  };
  const kinds: Record<string, RefOutcomeRun['outcome']> = {
    smmuv3_translate_success: 'translated',
    smmuv3_translate_abort: 'abort',
    smmuv3_translate_disable: 'disabled',
    smmuv3_translate_bypass: 'bypass',
  };
  for (const e of events) {
    const kind = kinds[e.ev];
    if (kind) {
      const m = TRANSLATE.exec(e.args);
      if (m) add(parseInt(m[2]!, 16), e.t, kind);
    } else if (e.ev === 'guest_error') {
      const m = GUEST_FAIL.exec(e.args);
      if (m) add(Number(m[1]), e.t, 'error', m[2]!.replace(/^SMMU_EVT_/, ''));
    }
  }
  return recipe.devices.map((d) => ({ name: d.name, sid: streamIdOf(d), phases: bySid.get(streamIdOf(d))! }));
}

/** Lines worth holding against the twin: the SMMU driver, the iommu core, the recipe's devices. */
export function dmesgFilter(recipe: Recipe): RegExp {
  const names = recipe.devices.map((d) => d.name.replaceAll('.', '\\.'));
  return new RegExp(`arm-smmu-v3|iommu|smmu|${names.join('|')}|virtio_blk|e1000e|AER`);
}

/**
 * The host time a primary-kernel console line was printed: its printk timestamp plus the
 * smallest host-minus-guest offset over the kernel's lines (the serial port only ever delays a
 * line), so the crash is placed where the kernel panicked, not where its line arrived.
 */
export function guestToHost(lines: readonly StampedLine[], at: StampedLine): number {
  const uptime = (l: StampedLine) => Number(/^\[\s*(\d+\.\d+)\]/.exec(l.line)?.[1] ?? NaN);
  let offset = Infinity;
  for (const l of lines) {
    const u = uptime(l);
    if (Number.isFinite(u)) offset = Math.min(offset, l.t - u);
  }
  const u = uptime(at);
  return Number.isFinite(offset) && Number.isFinite(u) ? offset + u : at.t;
}

export function convert(traceText: string, consoleText: string, recipe: Recipe, versions: Readonly<Record<string, string>>): Recording {
  const events = parseTrace(traceText);
  const console = parseConsole(consoleText);
  const bye = console.find((l) => /\] Bye!$/.test(l.line));
  const panic = console.find((l) => /Kernel panic - not syncing/.test(l.line));
  if (!bye || !panic)
    throw new Error(
      `reference: the console has no ${panic ? '' : '"Kernel panic" line'}${!bye && !panic ? ' and no ' : ''}${bye ? '' : '"Bye!" line (machine_kexec)'}: the primary kernel did not crash into the kdump kernel`,
    );
  const mmioAfter = (t: number, pred: (e: TraceEvent) => boolean) => events.find((e) => e.t >= t && pred(e));
  const isMmio = (e: TraceEvent) => e.ev === 'smmuv3_read_mmio' || e.ev === 'smmuv3_write_mmio';
  const first = mmioAfter(bye.t, isMmio);
  if (!first) throw new Error('reference: the kdump kernel never touched the SMMU (no MMIO after "Bye!")');
  const reset = mmioAfter(first.t, (e) => e.ev === 'smmuv3_write_mmio' && e.args.startsWith('addr: 0x20 '));
  const end = events.at(-1)!.t;
  const idr: Record<string, string> = {};
  for (const e of events) {
    if (e.t >= bye.t) break;
    const m = e.ev === 'smmuv3_read_mmio' ? MMIO.exec(e.args) : null;
    if (!m) continue;
    const { name } = registerName(parseInt(m[1]!, 16));
    if (/^(IDR[0-5]|IIDR|AIDR)$/.test(name) && !(name in idr)) idr[name] = hex(BigInt(`0x${m[2]}`));
  }
  const filter = dmesgFilter(recipe);
  const crashT = guestToHost(
    console.filter((l) => l.t < bye.t),
    panic,
  );
  return {
    format: RECORDING_FORMAT,
    recipe,
    versions,
    idr,
    boundaries: { kdumpFirstAccess: round(first.t - crashT), kdumpReset: reset ? round(reset.t - crashT) : null, end: round(end - crashT) },
    kernels: {
      primary: kernelRecord(events, { from: 0, to: bye.t }, console, crashT, filter),
      kdump: kernelRecord(events, { from: bye.t, to: Infinity }, console, crashT, filter),
    },
    devices: deviceOutcomes(events, recipe, { crash: crashT, kdumpFirst: first.t, kdumpReset: reset?.t ?? Infinity }),
  };
}
