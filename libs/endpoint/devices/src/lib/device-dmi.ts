// SPDX-License-Identifier: Apache-2.0
// Direct memory for the devices (docs/services.md, "Direct memory for devices"), the fleet's
// half: the translations the platform granted each device, one 4 KiB IOVA page of one StreamID
// at a time, and the pages it sent for the granted reads. A request a grant covers is answered
// here, exactly as the platform would answer it (the platform still applies it and checks that),
// so a device's read no longer ends its slice. The platform's half, which decides the grants and
// revokes them, is libs/scenario/engine device-dmi.ts.

import { DMI_PAGE, PageCache, type PageImage } from '@kdump-twin/platform';

/** A translation granted to a device: its untranslated accesses of IOVA page `iova` of StreamID `sid` reach PA page `pa`. */
export interface DeviceGrant {
  readonly device: string;
  readonly sid: number;
  /** Page-aligned IOVA. */
  readonly iova: number;
  /** Page-aligned PA. */
  readonly pa: number;
  /** A read is answered from the page the fleet holds (sent with the grant). */
  readonly read: boolean;
  readonly write: boolean;
  /** The grant is for the device's ATS-translated accesses (PCIe AT=10b): `iova` is the PA page its ATC gave it. */
  readonly ats?: boolean;
}

/** What a slice input says about direct memory: grants new or changed, grants revoked, page bytes. */
export interface DeviceDmiIn {
  readonly grants?: readonly DeviceGrant[];
  readonly revoke?: readonly { readonly device: string; readonly sid: number; readonly iova: number; readonly ats?: boolean }[];
  /** As for the kernels: a page held from now on with its bytes, new bytes at an offset, or (no data) a drop. */
  readonly pages?: readonly PageImage[];
}

/** Pages the fleet holds at most (16 MiB): rings, queues and DMA buffers fit many times over. */
export const DEVICE_DMI_PAGES = 4096;

const isPage = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x % DMI_PAGE === 0;

/** Checks `dmi` from the wire; a RangeError names the first field that breaks its rule. */
export function checkDeviceDmiIn(dmi: unknown): DeviceDmiIn {
  const o = dmi as Record<string, unknown>;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new RangeError('input.dmi: an object {grants?, revoke?, pages?}');
  const list = (k: string) => {
    const v = o[k];
    if (v !== undefined && !Array.isArray(v)) throw new RangeError(`input.dmi.${k}: an array`);
    return (v ?? []) as Record<string, unknown>[];
  };
  list('grants').forEach((g, i) => {
    const at = `input.dmi.grants[${i}]`;
    if (g === null || typeof g !== 'object') throw new RangeError(`${at}: an object {device, sid, iova, pa, read, write}`);
    if (typeof g['device'] !== 'string') throw new RangeError(`${at}.device: a device name`);
    if (typeof g['sid'] !== 'number' || !Number.isSafeInteger(g['sid']) || g['sid'] < 0) throw new RangeError(`${at}.sid: a StreamID (an integer >= 0)`);
    for (const k of ['iova', 'pa']) if (!isPage(g[k])) throw new RangeError(`${at}.${k}: a 4 KiB-aligned address (got ${JSON.stringify(g[k])})`);
    for (const k of ['read', 'write']) if (typeof g[k] !== 'boolean') throw new RangeError(`${at}.${k}: true or false`);
    if (g['ats'] !== undefined && typeof g['ats'] !== 'boolean') throw new RangeError(`${at}.ats: true, false or absent`);
  });
  list('revoke').forEach((r, i) => {
    if (
      r === null ||
      typeof r !== 'object' ||
      typeof r['device'] !== 'string' ||
      typeof r['sid'] !== 'number' ||
      !isPage(r['iova']) ||
      (r['ats'] !== undefined && typeof r['ats'] !== 'boolean')
    )
      throw new RangeError(`input.dmi.revoke[${i}]: {device, sid, iova, ats?} with a 4 KiB-aligned iova`);
  });
  list('pages').forEach((p, i) => {
    const at = `input.dmi.pages[${i}]`;
    if (p === null || typeof p !== 'object' || !isPage(p['pa'])) throw new RangeError(`${at}.pa: a 4 KiB-aligned address`);
    const data = p['data'];
    const off = p['offset'];
    if (data !== undefined && !(data instanceof Uint8Array)) throw new RangeError(`${at}.data: bytes`);
    if (off === undefined && data !== undefined && data.length !== DMI_PAGE)
      throw new RangeError(`${at}.data: a whole page (${DMI_PAGE} bytes) without offset (got ${data.length})`);
    if (off !== undefined && (typeof off !== 'number' || !Number.isSafeInteger(off) || off < 0 || data === undefined || off + data.length > DMI_PAGE))
      throw new RangeError(`${at}.offset: with data, inside the page (offset + data.length <= ${DMI_PAGE})`);
  });
  return dmi as DeviceDmiIn;
}

/** The fleet's grants and pages. */
export class DeviceDmi {
  /** device -> StreamID (-1 - StreamID for ATS-translated accesses) -> IOVA page number -> PA page and permissions. */
  private readonly grants = new Map<string, Map<number, Map<number, { pa: number; read: boolean; write: boolean }>>>();
  private readonly pages = new PageCache(DEVICE_DMI_PAGES);
  /** Requests answered here, over the fleet's life. */
  served = 0;

  take(dmi: DeviceDmiIn): void {
    for (const r of dmi.revoke ?? [])
      this.grants
        .get(r.device)
        ?.get(r.ats ? -1 - r.sid : r.sid)
        ?.delete(r.iova / DMI_PAGE);
    for (const g of dmi.grants ?? []) {
      let bySid = this.grants.get(g.device);
      if (!bySid) this.grants.set(g.device, (bySid = new Map()));
      const sid = g.ats ? -1 - g.sid : g.sid;
      let byPage = bySid.get(sid);
      if (!byPage) bySid.set(sid, (byPage = new Map()));
      byPage.set(g.iova / DMI_PAGE, { pa: g.pa, read: g.read, write: g.write });
    }
    if (dmi.pages) this.pages.take(dmi.pages);
  }

  private grant(device: string, sid: number, address: number, size: number, ats: boolean): { pa: number; read: boolean; write: boolean } | undefined {
    if (this.grants.size === 0 || !(size > 0) || !Number.isSafeInteger(address) || address < 0) return undefined;
    const off = address % DMI_PAGE;
    if (off + size > DMI_PAGE) return undefined;
    return this.grants
      .get(device)
      ?.get(ats ? -1 - sid : sid)
      ?.get((address - off) / DMI_PAGE);
  }

  /** A granted read's answer (`ats`: an ATS-translated read): the output address and the bytes; undefined if no grant or page covers it. */
  read(device: string, sid: number, address: number, size: number, ats = false): { pa: number; data: Uint8Array } | undefined {
    const g = this.grant(device, sid, address, size, ats);
    if (!g?.read) return undefined;
    const pa = g.pa + (address % DMI_PAGE);
    const data = this.pages.read(pa, size);
    if (!data) return undefined;
    this.served++;
    return { pa, data };
  }

  /** A CPU store (a kernel thread's run-ahead step): written through into the pages held. */
  cpuWrite(pa: number, data: Uint8Array): void {
    this.pages.write(pa, data);
  }

  /** A granted posted write: the physical address it lands at when a grant covers it (its bytes go into the page if held), else undefined. */
  write(device: string, sid: number, address: number, data: Uint8Array, ats = false): number | undefined {
    const g = this.grant(device, sid, address, data.length, ats);
    if (!g?.write) return undefined;
    const pa = g.pa + (address % DMI_PAGE);
    this.pages.write(pa, data);
    this.served++;
    return pa;
  }
}
