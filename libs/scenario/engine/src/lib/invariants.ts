// SPDX-License-Identifier: Apache-2.0
// The invariants of kdump-adopt-series.md section 3.4, evaluated on every run from the MMIO
// trace, the platform's write log and the kdump kernel's driver state, per SMMU. A report says
// for each whether it applies to this path and whether it held, with the evidence when not.

import { FEAT, OPT, type LinuxKernel, type MmioAccess } from '@kdump-twin/kernel';
import { findRegister } from '@kdump-twin/smmu-arch';
import type { World } from './world';

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

const bit = (layout: { get(w: readonly bigint[], n: string): bigint }, v: bigint, name: string) => layout.get([v], name) !== 0n;

export function evaluateInvariants(w: World): InvariantResult[] {
  const out: InvariantResult[] = [];
  if (!w.kdump) return out;
  const policy = w.spec.kdump.policy;
  const series = policy === 'adopt-v7' || policy === 'adopt-v10';
  w.kdump.kernels.forEach((k, i) => {
    const smmu = w.smmus[i]!.name;
    const acc = w.trace.all().filter((a) => a.kernel === 'kdump' && a.smmu === smmu);
    const writes = (reg: string) => acc.filter((a) => a.dir === 'write' && a.register === reg);
    const reads = (reg: string) => acc.filter((a) => a.dir === 'read' && a.register === reg);
    const adopting = (k.smmu.options & OPT.KDUMP_ADOPT) !== 0;
    const push = (id: string, applies: boolean, holds: boolean, detail?: string) => out.push({ id, smmu, text: TEXT[id]!, applies, holds: !applies || holds, ...(applies && !holds && detail ? { detail } : {}) });

    // 1
    const disabled = writes('CR0').some((a) => !bit(CR0, a.value, 'SMMUEN'));
    const acksOff = reads('CR0ACK').filter((a) => !bit(CR0, a.value, 'SMMUEN'));
    push('3.4.1', adopting && !disabled, acksOff.length === 0, `CR0ACK read ${hex(acksOff[0]?.value)} at t=${acksOff[0]?.time}`);
    // 2
    const forbidden = ['GBPA', 'CR1', 'CR2', 'STRTAB_BASE', 'STRTAB_BASE_CFG'].flatMap((r) => writes(r));
    push('3.4.2', adopting, forbidden.length === 0, forbidden.map((a) => `${a.register} <- ${hex(a.value)}`).join(', '));
    // 3
    const q = writes('CR0').filter((a) => bit(CR0, a.value, 'EVENTQEN') || bit(CR0, a.value, 'PRIQEN'));
    const irq = writes('IRQ_CTRL').filter((a) => bit(IRQ_CTRL, a.value, 'EVENTQ_IRQEN') || bit(IRQ_CTRL, a.value, 'PRIQ_IRQEN'));
    const handlers = k.smmu.irqs.evtq || k.smmu.irqs.priq;
    push('3.4.3', series, q.length === 0 && irq.length === 0 && !handlers, [...q, ...irq].map((a) => `${a.register} <- ${hex(a.value)}`).join(', ') || 'an EVTQ/PRIQ handler is registered');
    // 4
    const r4 = gerrorAckedBeforeCmdq(acc);
    push('3.4.4', series && r4.applies, r4.holds, r4.detail);
    // 5
    const cr0First = reads('CR0')[0];
    const g = reads('GERROR')[0];
    const gn = reads('GERRORN')[0];
    const sfm = g && gn ? bit(GERROR, g.value ^ gn.value, 'SFM_ERR') : false;
    const coherent = (k.smmu.features & FEAT.COHERENCY) !== 0;
    push('3.4.5', adopting, !!cr0First && bit(CR0, cr0First.value, 'SMMUEN') && coherent && !sfm, `SMMUEN at hw_probe ${cr0First ? bit(CR0, cr0First.value, 'SMMUEN') : 'unread'}, coherent ${coherent}, SFM ${sfm}`);
    // 6
    const fellBack = k.log.all().some((l) => l.device === k.smmu.fw.devName && l.text === 'kdump: falling back to full reset');
    if (fellBack) {
      const idr0 = reads('IDR0')[0];
      const idr1 = reads('IDR1')[0];
      const twoLvlHw = idr0 && idr1 ? w.smmus[i]!.field('IDR0', 'ST_LEVEL') === 1 && w.smmus[i]!.field('IDR1', 'SIDSIZE') > 8 : true;
      const feat = (k.smmu.features & FEAT.TWO_LVL_STRTAB) !== 0;
      const reserved = [...k.smmu.asids.values(), ...k.smmu.vmids.values()].filter((v) => v === 'reserved').length;
      const st = k.smmu.strtab;
      const fresh = st.kind !== 'none' && !st.adopted;
      push('3.4.6', true, !adopting && feat === twoLvlHw && reserved === 0 && fresh, `OPT ${adopting}, FEAT_2_LVL_STRTAB ${feat} (hardware ${twoLvlHw}), reservations ${reserved}, fresh table ${fresh}`);
    } else push('3.4.6', false, true);
    // 7
    const r7 = adoptedSteWrites(w, i, k);
    push('3.4.7', adopting, r7.length === 0, r7.slice(0, 3).join('; '));
    // 8
    const crashed = crashedIds(w.primary.kernels[i]!);
    const mine = kdumpIds(k);
    const aliasA = mine.asids.filter((a) => crashed.asids.has(a));
    const aliasV = mine.vmids.filter((v) => crashed.vmids.has(v));
    push('3.4.8', policy === 'adopt-v10' && adopting, aliasA.length === 0 && aliasV.length === 0, `ASIDs ${aliasA.join(',') || '-'} and VMIDs ${aliasV.join(',') || '-'} reused`);
    // 9
    const r9 = lazyFailuresContained(w, i, k);
    push('3.4.9', r9.applies, r9.holds, r9.detail);
  });
  return out;
}

const hex = (v: bigint | undefined) => (v === undefined ? '?' : `0x${v.toString(16)}`);

function gerrorAckedBeforeCmdq(acc: readonly MmioAccess[]): { applies: boolean; holds: boolean; detail?: string } {
  const en = acc.findIndex((a) => a.dir === 'write' && a.register === 'CR0' && bit(CR0, a.value, 'CMDQEN'));
  if (en < 0) return { applies: false, holds: true };
  let g: bigint | undefined;
  let gn: bigint | undefined;
  let acked = false;
  for (let j = 0; j < en; j++) {
    const a = acc[j]!;
    if (a.dir === 'read' && a.register === 'GERROR') g = a.value;
    else if (a.dir === 'read' && a.register === 'GERRORN') gn = a.value;
    else if (a.dir === 'write' && a.register === 'GERRORN') {
      gn = a.value;
      acked = true;
    }
  }
  if (g === undefined) return { applies: true, holds: false, detail: 'GERROR never read before CMDQEN' };
  const active = (g ^ (gn ?? 0n)) & 0x1fdn;
  return { applies: true, holds: active === 0n, detail: `GERROR ^ GERRORN = ${hex(active)} when CMDQEN was set${acked ? '' : ' (no GERRORN write)'}` };
}

export function crashedIds(k: LinuxKernel): { asids: Set<number>; vmids: Set<number> } {
  const asids = new Set<number>();
  const vmids = new Set<number>();
  for (const m of k.smmu.masters.values()) {
    const d = k.domains.domainOf(m);
    if (d?.asid !== undefined) asids.add(d.asid);
    if (d?.vmid !== undefined) vmids.add(d.vmid);
  }
  return { asids, vmids };
}

export function kdumpIds(k: LinuxKernel): { asids: number[]; vmids: number[] } {
  const asids: number[] = [];
  const vmids: number[] = [];
  for (const m of k.smmu.masters.values()) {
    const d = k.domains.domainOf(m);
    if (d?.asid !== undefined) asids.push(d.asid);
    if (d?.vmid !== undefined) vmids.push(d.vmid);
  }
  return { asids, vmids };
}

/** kdump-CPU stores into the crashed kernel's STEs whose StreamID's own device had not been attached by then. */
function adoptedSteWrites(w: World, i: number, k: LinuxKernel): string[] {
  const st = w.primary.kernels[i]!.smmu.strtab;
  const ranges: { base: number; firstSid: number; bytes: number }[] = [];
  if (st.kind === 'linear') ranges.push({ base: st.table, firstSid: 0, bytes: st.numEnts * 64 });
  else if (st.kind === '2lvl') st.l2ptrs.forEach((l2, slot) => l2 !== undefined && ranges.push({ base: l2, firstSid: slot * 256, bytes: 256 * 64 }));
  const bad: string[] = [];
  const log = w.memory.writeLog();
  const kdumpCpu = (kind: string) => kind === 'kdump-cpu';
  for (let j = 0; j < log.count; j++) {
    const r = log.get(j);
    if (!kdumpCpu(r.writer.kind)) continue;
    const range = ranges.find((x) => r.address >= x.base && r.address < x.base + x.bytes);
    if (!range) continue;
    const sid = range.firstSid + Math.floor((r.address - range.base) / 64);
    const owner = w.ownerOf(w.smmus[i]!.name, sid);
    const d = owner ? w.devices.get(owner) : undefined;
    // Allowed: the owner's own attach, which starts at its iommu probe (non-deferred) or its driver's first DMA use.
    const attached = d !== undefined && d.kdumpAttachedAt !== undefined && d.kdumpProbeAt !== undefined && r.time >= d.kdumpProbeAt && k.master(owner!)?.attachDeferred === false;
    if (!attached) bad.push(`STE of SID 0x${sid.toString(16)} written at t=${r.time}${owner ? ` (${owner} not attached)` : ' (no device)'}`);
  }
  return bad;
}

function lazyFailuresContained(w: World, i: number, k: LinuxKernel): { applies: boolean; holds: boolean; detail?: string } {
  const slots = new Set<number>();
  for (const l of k.log.all()) {
    if (l.device !== k.smmu.fw.devName) continue;
    const m = /L1\[(\d+)\] (span \d+ changed since adopt|bad l2 table base)/.exec(l.text) ?? /failed to adopt l2 stream table for SID (\d+)/.exec(l.text);
    if (!m) continue;
    slots.add(l.text.includes('for SID') ? Math.floor(Number(m[1]) / 256) : Number(m[1]));
  }
  if (slots.size === 0) return { applies: false, holds: true };
  const bad: string[] = [];
  for (const d of w.devices.values()) {
    if (d.spec.smmu !== i || !d.kdumpProbe) continue;
    const inSlot = d.sids.some((s) => slots.has(Math.floor(s / 256)));
    if (d.kdumpProbe.errno === 'EINVAL' || d.kdumpProbe.errno === 'ENOMEM') {
      if (!inSlot) bad.push(`${d.spec.name} failed (-${d.kdumpProbe.errno}) outside slots ${[...slots].join(',')}`);
    } else if (!d.kdumpProbe.grouped && !inSlot && d.kdumpProbe.errno !== 'ERANGE' && d.kdumpProbe.errno !== 'ENODEV') bad.push(`${d.spec.name} lost its group`);
  }
  return { applies: true, holds: bad.length === 0, detail: bad.join('; ') };
}
