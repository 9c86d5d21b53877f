// SPDX-License-Identifier: Apache-2.0
// The invariants of kdump-adopt-series.md section 3.4, evaluated on every run from the kdump
// kernel's MMIO trace and driver state, the crashed kernel's tables, and the platform's write
// log, per SMMU. A report says for each whether it applies to this path and whether it held,
// with the evidence when not.

import { FEAT, OPT } from '@kdump-twin/kernel';
import { findRegister } from '@kdump-twin/smmu-arch';
import type { PlatformRole } from './platform-role';
import type { AccessView, KernelView } from './views';

export interface InvariantResult {
  /** Section 3.4 item, e.g. "3.4.1". */
  readonly id: string;
  readonly smmu: string;
  readonly text: string;
  readonly applies: boolean;
  readonly holds: boolean;
  readonly detail?: string;
}

const TEXT: Record<string, string> = {
  '3.4.1': 'adopt: CR0ACK.SMMUEN reads 1 at every sample of the kdump probe unless device_disable ran',
  '3.4.2': 'adopt: no write reaches GBPA, CR1, CR2, STRTAB_BASE or STRTAB_BASE_CFG',
  '3.4.3': 'kdump with the series: CR0.EVTQEN/PRIQEN never set, no EVTQ/PRIQ interrupt enabled or handler registered',
  '3.4.4': 'kdump with the series: no global error active when CR0.CMDQEN is set',
  '3.4.5': 'OPT_KDUMP_ADOPT only with SMMUEN=1 at hw_probe, FEAT_COHERENCY and no active SFM_ERR',
  '3.4.6': 'after a fallback: OPT cleared, FEAT_2_LVL_STRTAB as the hardware gives it, fresh tables, no reservation left',
  '3.4.7': 'adopt: an adopted STE changes only through a domain attach of its own device',
  '3.4.8': 'v10: no kdump-kernel domain has an ASID or VMID the crashed kernel was using',
  '3.4.9': 'a lazy L1 slot failure affects only devices with StreamIDs in that slot',
};

const CR0 = findRegister('CR0')!;
const GERROR = findRegister('GERROR')!;
const IRQ_CTRL = findRegister('IRQ_CTRL')!;
const ERR_MASK = GERROR.fields.filter((f) => f.name.endsWith('_ERR')).reduce((m, f) => m | GERROR.with([0n], f.name, 1n)[0]!, 0n);

const bit = (layout: { get(w: readonly bigint[], n: string): bigint }, v: bigint, name: string) => layout.get([v], name) !== 0n;
const val = (a: AccessView) => BigInt(a.value);

export function evaluateInvariants(p: PlatformRole, primary: KernelView, kdump: KernelView | null): InvariantResult[] {
  const out: InvariantResult[] = [];
  if (!kdump) return out;
  const policy = p.spec.kdump.policy;
  const series = policy === 'adopt-v7' || policy === 'adopt-v10';
  kdump.smmus.forEach((k, i) => {
    const smmu = p.smmus[i]!.name;
    const acc = kdump.trace.filter((a) => a.kernel === 'kdump' && a.smmu === smmu);
    const writes = (reg: string) => acc.filter((a) => a.dir === 'write' && a.register === reg);
    const reads = (reg: string) => acc.filter((a) => a.dir === 'read' && a.register === reg);
    const adopting = (k.options & OPT.KDUMP_ADOPT) !== 0;
    const push = (id: string, applies: boolean, holds: boolean, detail?: string) =>
      out.push({ id, smmu, text: TEXT[id]!, applies, holds: !applies || holds, ...(applies && !holds && detail ? { detail } : {}) });

    const disabled = writes('CR0').some((a) => !bit(CR0, val(a), 'SMMUEN'));
    const acksOff = reads('CR0ACK').filter((a) => !bit(CR0, val(a), 'SMMUEN'));
    push('3.4.1', adopting && !disabled, acksOff.length === 0, `CR0ACK read ${acksOff[0]?.value} at t=${acksOff[0]?.time}`);
    const forbidden = ['GBPA', 'CR1', 'CR2', 'STRTAB_BASE', 'STRTAB_BASE_CFG'].flatMap((r) => writes(r));
    push('3.4.2', adopting, forbidden.length === 0, forbidden.map((a) => `${a.register} <- ${a.value}`).join(', '));
    const q = writes('CR0').filter((a) => bit(CR0, val(a), 'EVENTQEN') || bit(CR0, val(a), 'PRIQEN'));
    const irq = writes('IRQ_CTRL').filter((a) => bit(IRQ_CTRL, val(a), 'EVENTQ_IRQEN') || bit(IRQ_CTRL, val(a), 'PRIQ_IRQEN'));
    const handlers = k.irqs.evtq || k.irqs.priq;
    push(
      '3.4.3',
      series,
      q.length === 0 && irq.length === 0 && !handlers,
      [...q, ...irq].map((a) => `${a.register} <- ${a.value}`).join(', ') || 'an EVTQ/PRIQ handler is registered',
    );
    const r4 = gerrorAckedBeforeCmdq(acc);
    push('3.4.4', series && r4.applies, r4.holds, r4.detail);
    const cr0First = reads('CR0')[0];
    const g = reads('GERROR')[0];
    const gn = reads('GERRORN')[0];
    const sfm = g && gn ? bit(GERROR, val(g) ^ val(gn), 'SFM_ERR') : false;
    const coherent = (k.features & FEAT.COHERENCY) !== 0;
    push(
      '3.4.5',
      adopting,
      !!cr0First && bit(CR0, val(cr0First), 'SMMUEN') && coherent && !sfm,
      `SMMUEN at hw_probe ${cr0First ? bit(CR0, val(cr0First), 'SMMUEN') : 'unread'}, coherent ${coherent}, SFM ${sfm}`,
    );
    const fellBack = kdump.log.some((l) => l.device === k.devName && l.text === 'kdump: falling back to full reset');
    if (fellBack) {
      const twoLvlHw = p.smmus[i]!.field('IDR0', 'ST_LEVEL') === 1 && p.smmus[i]!.field('IDR1', 'SIDSIZE') > 8;
      const feat = (k.features & FEAT.TWO_LVL_STRTAB) !== 0;
      const reserved = [...k.asids, ...k.vmids].filter(([, v]) => v === 'reserved').length;
      const fresh = k.strtab.kind !== 'none' && !k.strtab.adopted;
      push(
        '3.4.6',
        true,
        !adopting && feat === twoLvlHw && reserved === 0 && fresh,
        `OPT ${adopting}, FEAT_2_LVL_STRTAB ${feat} (hardware ${twoLvlHw}), reservations ${reserved}, fresh table ${fresh}`,
      );
    } else push('3.4.6', false, true);
    const r7 = adoptedSteWrites(p, i, primary, kdump);
    push('3.4.7', adopting, r7.length === 0, r7.slice(0, 3).join('; '));
    const crashed = primary.smmus[i]?.domainIds ?? { asids: [], vmids: [] };
    const aliasA = k.domainIds.asids.filter((a) => crashed.asids.includes(a));
    const aliasV = k.domainIds.vmids.filter((v) => crashed.vmids.includes(v));
    push(
      '3.4.8',
      policy === 'adopt-v10' && adopting,
      aliasA.length === 0 && aliasV.length === 0,
      `ASIDs ${aliasA.join(',') || '-'} and VMIDs ${aliasV.join(',') || '-'} reused`,
    );
    const r9 = lazyFailuresContained(p, i, kdump);
    push('3.4.9', r9.applies, r9.holds, r9.detail);
  });
  return out;
}

function gerrorAckedBeforeCmdq(acc: readonly AccessView[]): { applies: boolean; holds: boolean; detail?: string } {
  const en = acc.findIndex((a) => a.dir === 'write' && a.register === 'CR0' && bit(CR0, val(a), 'CMDQEN'));
  if (en < 0) return { applies: false, holds: true };
  let g: bigint | undefined;
  let gn: bigint | undefined;
  let acked = false;
  for (let j = 0; j < en; j++) {
    const a = acc[j]!;
    if (a.dir === 'read' && a.register === 'GERROR') g = val(a);
    else if (a.dir === 'read' && a.register === 'GERRORN') gn = val(a);
    else if (a.dir === 'write' && a.register === 'GERRORN') {
      gn = val(a);
      acked = true;
    }
  }
  if (g === undefined) return { applies: true, holds: false, detail: 'GERROR never read before CMDQEN' };
  const active = (g ^ (gn ?? 0n)) & ERR_MASK;
  return {
    applies: true,
    holds: active === 0n,
    detail: `GERROR ^ GERRORN = 0x${active.toString(16)} when CMDQEN was set${acked ? '' : ' (no GERRORN write)'}`,
  };
}

/** kdump-CPU stores into the crashed kernel's STEs whose StreamID's own device had not been attached by then. */
function adoptedSteWrites(p: PlatformRole, i: number, primary: KernelView, kdump: KernelView): string[] {
  const ranges = primary.smmus[i]?.l2Tables ?? [];
  const bad: string[] = [];
  const log = p.memory.writeLog();
  for (let j = 0; j < log.count; j++) {
    const r = log.get(j);
    if (r.writer.kind !== 'kdump-cpu') continue;
    const range = ranges.find((x) => r.address >= x.base && r.address < x.base + x.bytes);
    if (!range) continue;
    const sid = range.firstSid + Math.floor((r.address - range.base) / 64);
    const owner = p.ownerOf(p.smmus[i]!.name, sid);
    const d = owner ? kdump.devices[owner] : undefined;
    // Allowed: the owner's own attach, which starts at its iommu probe (non-deferred) or its driver's first DMA use.
    const attached = d !== undefined && d.attachedAt !== null && d.probedAt !== null && r.time >= d.probedAt && d.attached;
    if (!attached) bad.push(`STE of SID 0x${sid.toString(16)} written at t=${r.time}${owner ? ` (${owner} not attached)` : ' (no device)'}`);
  }
  return bad;
}

function lazyFailuresContained(p: PlatformRole, i: number, kdump: KernelView): { applies: boolean; holds: boolean; detail?: string } {
  const k = kdump.smmus[i]!;
  const slots = new Set<number>();
  for (const l of kdump.log) {
    if (l.device !== k.devName) continue;
    const m = /L1\[(\d+)\] (span \d+ changed since adopt|bad l2 table base)/.exec(l.text) ?? /failed to adopt l2 stream table for SID (\d+)/.exec(l.text);
    if (!m) continue;
    slots.add(l.text.includes('for SID') ? Math.floor(Number(m[1]) / 256) : Number(m[1]));
  }
  if (slots.size === 0) return { applies: false, holds: true };
  const bad: string[] = [];
  for (const d of p.devices) {
    const v = kdump.devices[d.name];
    if (d.smmu !== i || !v?.probe) continue;
    const inSlot = d.sids.some((s) => slots.has(Math.floor(s / 256)));
    if (v.probe.errno === 'EINVAL' || v.probe.errno === 'ENOMEM' || v.probe.errno === 'ENXIO') {
      if (!inSlot) bad.push(`${d.name} failed (-${v.probe.errno}) outside slots ${[...slots].join(',')}`);
    } else if (!v.probe.grouped && !inSlot && v.probe.errno !== 'ERANGE' && v.probe.errno !== 'ENODEV') bad.push(`${d.name} lost its group`);
  }
  return { applies: true, holds: bad.length === 0, detail: bad.join('; ') };
}
