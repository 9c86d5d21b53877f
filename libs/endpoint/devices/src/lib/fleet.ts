// SPDX-License-Identifier: Apache-2.0
// A fleet of endpoints: device and host-driver parameters per kind with the defaults a server
// would show, the factory that builds a device and its driver, and the fleet itself (devices
// by name and by StreamID, ATS invalidations routed to the device that owns the StreamID).

import { CopyEngine, type CopyEngineConfig } from './copy';
import type { Endpoint, EndpointConfig } from './endpoint';
import { CopyDriver, NicDriver, NvmeDriver, type CopyDriverConfig, type HostKernel, type NicDriverConfig, type NvmeDriverConfig } from './host';
import { Nic, type NicConfig } from './nic';
import { Nvme, type NvmeConfig } from './nvme';
import type { SeededRng } from '@kdump-twin/platform';
import type { DmaPort, EndpointObserver, Scheduler } from './types';

type Own<T> = Omit<T, keyof EndpointConfig>;

/** Everything one device kind can be given: the device's own knobs and its host driver's. */
export interface NicParams extends Own<NicConfig>, NicDriverConfig {}
export interface NvmeParams extends Own<NvmeConfig>, NvmeDriverConfig {}
export interface GpuParams extends Own<CopyEngineConfig>, CopyDriverConfig {}

/** Common endpoint defaults: AER severities are the PCIe defaults (UR and CA non-fatal). */
export const ENDPOINT_DEFAULTS = {
  ats: false,
  atcEntries: 64,
  aer: { UR: 'non-fatal', CA: 'non-fatal', ATS: 'non-fatal' },
  readLatencyNs: 800,
  maxReadTags: 32,
} as const;

export const NIC_DEFAULTS: NicParams = {
  rxIntervalNs: 2_000,
  packetBytes: 1_024,
  descPrefetch: 8,
  rxFifo: 8,
  statsIntervalNs: 10_000,
  rxJitterPct: 20,
  rxEntries: 256,
  rxBufBytes: 2_048,
  txEntries: 128,
  txBufBytes: 2_048,
  txIntervalNs: 4_000,
  pollNs: 20_000,
};

export const NVME_DEFAULTS: NvmeParams = {
  queueDepth: 16,
  mediaLatencyNs: 40_000,
  lbaBytes: 4_096,
  sqeFetch: 4,
  mediaJitterPct: 10,
  sqEntries: 256,
  cqEntries: 256,
  outstanding: 64,
  ioBytes: 16_384,
  readEvery: 2,
  pollNs: 10_000,
};

export const GPU_DEFAULTS: GpuParams = {
  chunkBytes: 4_096,
  chunksInFlight: 16,
  chunkIntervalNs: 2_000,
  ringEntries: 16,
  queued: 4,
  jobBytes: 1 << 20,
  pollNs: 50_000,
};

/** What error a read failure makes each kind do by default. */
export const READ_ERROR_DEFAULT = { nic: 'continue', nvme: 'halt', gpu: 'halt' } as const;

export type DeviceParams = ({ kind: 'nic' } & NicParams) | ({ kind: 'nvme' } & NvmeParams) | ({ kind: 'gpu' } & GpuParams);

export interface FleetMember {
  readonly device: Endpoint;
  /** The driver in the primary kernel. */
  readonly primary: NicDriver | NvmeDriver | CopyDriver;
}

export function createDevice(base: EndpointConfig, p: DeviceParams, sched: Scheduler, port: DmaPort, obs: EndpointObserver, rng?: SeededRng): Endpoint {
  if (p.kind === 'nic') return new Nic({ ...base, ...p }, sched, port, obs, rng);
  if (p.kind === 'nvme') return new Nvme({ ...base, ...p }, sched, port, obs, rng);
  return new CopyEngine({ ...base, ...p }, sched, port, obs, rng);
}

/** The driver for `dev` in `host`'s kernel. */
export function createDriver(dev: Endpoint, p: DeviceParams, host: HostKernel, sched: Scheduler): NicDriver | NvmeDriver | CopyDriver {
  if (dev instanceof Nic && p.kind === 'nic') return new NicDriver(dev, host, sched, p);
  if (dev instanceof Nvme && p.kind === 'nvme') return new NvmeDriver(dev, host, sched, p);
  if (dev instanceof CopyEngine && p.kind === 'gpu') return new CopyDriver(dev, host, sched, p);
  throw new TypeError(`${dev.name}: parameters of kind ${p.kind} for a ${dev.kind}`);
}

/** Devices by name and StreamID. */
export class Fleet {
  private readonly byName = new Map<string, Endpoint>();
  private readonly bySid = new Map<number, Endpoint>();

  add(dev: Endpoint): void {
    if (this.byName.has(dev.name)) throw new RangeError(`device ${dev.name} exists`);
    for (const sid of dev.cfg.sids) {
      const other = this.bySid.get(sid);
      if (other) throw new RangeError(`StreamID 0x${sid.toString(16)} of ${dev.name} already belongs to ${other.name}`);
    }
    this.byName.set(dev.name, dev);
    for (const sid of dev.cfg.sids) this.bySid.set(sid, dev);
  }

  get(name: string): Endpoint | undefined {
    return this.byName.get(name);
  }

  owner(sid: number): Endpoint | undefined {
    return this.bySid.get(sid);
  }

  all(): Endpoint[] {
    return [...this.byName.values()];
  }

  /** CMD_ATC_INV reaching the device that owns `sid`; a StreamID with no device completes trivially. */
  atcInvalidate(sid: number, address: number, bytes: number): boolean {
    return this.bySid.get(sid)?.atcInvalidate(address, bytes) ?? true;
  }
}
