// SPDX-License-Identifier: Apache-2.0
// Direct memory for the devices (docs/services.md, "Direct memory for devices"), the platform's
// half: which translations the fleet may use without asking, kept exact at every slice.
//
// The rules:
// - A grant covers one 4 KiB IOVA page of one StreamID of one device, for reads (with the page's
//   bytes) or writes, and is made after a request of that device through that page succeeded,
//   when the SMMU's fast path answers it now (SmmuV3.cachedTranslation: STE, CD and TLB entry
//   cached, the permission there) and the PA page is plain memory (accessible, in no region
//   firmware offlined; backed already for writes, so no write can meet the backing bound).
// - Every slice input re-checks every grant: the same TLB entry must still answer with the same
//   page (an invalidation, an eviction, a CFGI, GBPA/SMMUEN, SFM all make it differ), or the grant
//   goes (`revoke`, or a narrower grant). It carries the bytes written since the previous slice
//   in the pages the fleet holds, and no grant at all while a panic after N transactions is armed
//   (the panic could land between two requests of a slice and change what the next one meets).
// - In a slice the fleet answers a request under a grant only while every request before it in
//   that slice was answered so too: nothing but those requests, all fast-path hits that leave
//   every cache entry in place, happens on the platform until the slice's requests are applied.
// - The platform still applies every request, in order, and checks each answer the fleet gave
//   (`check`): a difference is a broken invariant and fails the run rather than the report.

import { DEVICE_DMI_PAGES, type DeviceDmiIn, type DeviceGrant, type DmaCompletion, type FleetRequest } from '@kdump-twin/endpoint';
import { DMI_PAGE, imagesOf, plainPage, touchedSince, type DmiMode, type PageImage } from '@kdump-twin/platform';
import type { SmmuV3 } from '@kdump-twin/smmu-model';

interface Grant {
  readonly device: string;
  readonly sid: number;
  readonly iova: number;
  /** For ATS-translated accesses: `iova` is a PA page. */
  readonly ats: boolean;
  readonly smmu: SmmuV3;
  /** The TLB entry each permission was granted from, and the PA page it gave. */
  read?: { readonly entry: object; readonly pa: number };
  write?: { readonly entry: object; readonly pa: number };
}

/** What the grant manager needs of the platform. */
export interface DeviceDmiPlatform {
  readonly memory: import('@kdump-twin/platform').PhysicalMemory;
  readonly ras: { touch(region: string): unknown; readonly offlined: ReadonlySet<string> };
  /** The SMMU a device sits behind. */
  smmuOf(device: string): SmmuV3 | undefined;
  /** A panic after N transactions is armed and has not happened. */
  countTriggerArmed(): boolean;
}

export class DeviceGrants {
  private readonly grants = new Map<string, Grant>();
  /** The grants of each SMMU, and its translationEpoch() when they were last checked. */
  private readonly bySmmu = new Map<SmmuV3, { grants: Map<string, Grant>; epoch: number }>();
  /** What every grant also depends on, as of the last check: offlined regions, an armed count trigger. */
  private seen = { offlined: 0, blocked: false };
  /** Grants to send with the next slice (new or narrowed), and ones revoked. */
  private readonly changed = new Set<Grant>();
  private revoked: { device: string; sid: number; iova: number; ats?: boolean }[] = [];
  /** PA pages the fleet holds, and pages to send it whole. */
  private readonly held = new Set<number>();
  private readonly fresh = new Set<number>();
  private cursor: number;
  /** Requests the fleet answered under a grant, checked here. */
  checked = 0;

  constructor(
    private readonly p: DeviceDmiPlatform,
    private readonly mode: DmiMode = 'on',
  ) {
    this.cursor = p.memory.writeLog().count;
  }

  private key(device: string, sid: number, iova: number, ats: boolean): string {
    return `${device}/${sid}/${iova}${ats ? '/ats' : ''}`;
  }

  /** Whether accesses anywhere in the PA page at `pa` are plain memory now. */
  private plain(pa: number): boolean {
    return plainPage(this.p.memory, pa, (r) => this.p.ras.touch(r));
  }

  /** The translation of one permission as the SMMU's fast path gives it now, if it may be granted. */
  private now(g: Grant, write: boolean): { entry: object; pa: number } | undefined {
    const t = g.smmu.cachedTranslation(g.sid, g.iova, write, g.ats ? 'translated' : undefined);
    if (!t || !this.plain(t.page) || (write && !this.p.memory.backed(t.page))) return undefined;
    return { entry: t.entry, pa: t.page };
  }

  /** A request the fleet could not answer was applied: grant its page if it may be. */
  observe(req: FleetRequest, c: DmaCompletion): void {
    if (c.status !== 'SC' || (req.ats !== undefined && req.ats !== 'translated') || req.ssid !== undefined || !(req.size > 0) || this.p.countTriggerArmed())
      return;
    const off = req.address % DMI_PAGE;
    if (off + req.size > DMI_PAGE) return;
    const iova = req.address - off;
    const ats = req.ats === 'translated';
    const k = this.key(req.device, req.sid, iova, ats);
    let g = this.grants.get(k);
    if (g && (req.write ? g.write : g.read)) return;
    const smmu = this.p.smmuOf(req.device);
    if (!smmu) return;
    const made = g ?? { device: req.device, sid: req.sid, iova, ats, smmu };
    const t = this.now(made, req.write);
    if (!t) return;
    if (!req.write) {
      const n = t.pa / DMI_PAGE;
      if (!this.held.has(n)) {
        if (this.held.size >= DEVICE_DMI_PAGES) return;
        this.held.add(n);
        this.fresh.add(n);
      }
      made.read = t;
    } else made.write = t;
    if (!g) {
      this.grants.set(k, (g = made));
      let s = this.bySmmu.get(smmu);
      if (!s) this.bySmmu.set(smmu, (s = { grants: new Map(), epoch: -1 }));
      s.grants.set(k, g);
    }
    this.changed.add(g);
  }

  /** What the next slice's input says; re-checks every grant first. */
  input(): DeviceDmiIn {
    if (this.mode !== 'no-invalidate') {
      const blocked = this.p.countTriggerArmed();
      const offlined = this.p.ras.offlined.size;
      const all = blocked !== this.seen.blocked || offlined !== this.seen.offlined;
      this.seen = { offlined, blocked };
      for (const [smmu, s] of this.bySmmu) {
        // Nothing the fast path reads changed since the last check: every answer is the same.
        const epoch = smmu.translationEpoch();
        if (!all && epoch === s.epoch) continue;
        s.epoch = epoch;
        for (const [k, g] of s.grants) {
          const r = g.read && !blocked ? this.now(g, false) : undefined;
          const w = g.write && !blocked ? this.now(g, true) : undefined;
          const keepR = g.read !== undefined && r !== undefined && r.entry === g.read.entry && r.pa === g.read.pa;
          const keepW = g.write !== undefined && w !== undefined && w.entry === g.write.entry && w.pa === g.write.pa;
          if (keepR === (g.read !== undefined) && keepW === (g.write !== undefined)) continue;
          if (!keepR) g.read = undefined;
          if (!keepW) g.write = undefined;
          if (!g.read && !g.write) {
            this.grants.delete(k);
            s.grants.delete(k);
            this.changed.delete(g);
            this.revoked.push({ device: g.device, sid: g.sid, iova: g.iova, ...(g.ats ? { ats: true } : {}) });
          } else this.changed.add(g);
        }
      }
    }
    const pages: PageImage[] = [];
    const touched = new Map<number, [number, number][] | null>();
    this.cursor = touchedSince(this.p.memory, this.cursor, this.held, touched, () => this.mode !== 'no-invalidate');
    for (const n of this.fresh) touched.set(n, null);
    this.fresh.clear();
    for (const n of [...touched.keys()].sort((a, b) => a - b)) pages.push(...imagesOf(this.p.memory, n, touched.get(n)!));
    const grants: DeviceGrant[] = [];
    for (const g of this.changed)
      grants.push({
        device: g.device,
        sid: g.sid,
        iova: g.iova,
        pa: (g.read ?? g.write)!.pa,
        read: g.read !== undefined,
        write: g.write !== undefined && (!g.read || g.write.pa === g.read.pa),
        ...(g.ats ? { ats: true } : {}),
      });
    this.changed.clear();
    const revoke = this.revoked;
    this.revoked = [];
    return { ...(grants.length ? { grants } : {}), ...(revoke.length ? { revoke } : {}), ...(pages.length ? { pages } : {}) };
  }

  /** A request the fleet answered under a grant: the platform's own answer must be the same. */
  check(req: FleetRequest, c: DmaCompletion): void {
    const off = req.address % DMI_PAGE;
    const g = this.grants.get(this.key(req.device, req.sid, req.address - off, req.ats === 'translated'));
    const granted = req.write ? g?.write : g?.read;
    this.checked++;
    if (granted && c.status === 'SC' && c.pa === granted.pa + off) return;
    const hex = (n: number) => `0x${n.toString(16)}`;
    throw new Error(
      `device direct memory: ${req.device} answered its ${req.write ? 'write' : 'read'} of ${req.size} bytes at ${req.ats === 'translated' ? 'translated PA' : 'IOVA'} ${hex(req.address)} (StreamID ${req.sid}, ticket ${req.ticket}) ` +
        `${granted ? `under a grant of PA ${hex(granted.pa + off)}` : 'with no grant held'}, but the platform answers ${c.status} (${c.outcome}, PA ${c.pa >= 0 ? hex(c.pa) : 'none'})`,
    );
  }
}
