// SPDX-License-Identifier: Apache-2.0
// The platform bundle every model shares (virtual clock, seeded RNG, physical memory) and a
// realistic arm64 server memory map to start from.

import { VirtualClock } from './clock';
import { PhysicalMemory, type MemoryConfig, type Region } from './memory';
import { SeededRng } from './rng';

export interface PlatformConfig {
  readonly seed: number | string;
  readonly memory: MemoryConfig;
}

export class Platform {
  readonly clock: VirtualClock;
  readonly rng: SeededRng;
  readonly memory: PhysicalMemory;

  constructor(c: PlatformConfig) {
    this.clock = new VirtualClock();
    this.rng = new SeededRng(c.seed);
    this.memory = new PhysicalMemory(c.memory, this.clock);
  }
}

/**
 * An arm64 server map (48-bit PA): a GICv3 ITS doorbell and the SMMU frame in a low MMIO hole,
 * an unbacked hole, 2 GiB of DRAM at 0x8000_0000 split around a 512 MiB crashkernel carve-out
 * (as `crashkernel=512M` reserves it), device DMA buffers, and a high PCIe BAR window.
 */
export function defaultServerMemoryLayout(): Region[] {
  return [
    { name: 'gic-its', base: 0x0800_0000, size: 0x0100_0000, kind: 'mmio', owner: 'gic' },
    { name: 'smmu-regs', base: 0x0900_0000, size: 0x0010_0000, kind: 'mmio', owner: 'smmu' },
    { name: 'low-hole', base: 0x1000_0000, size: 0x7000_0000, kind: 'hole' },
    { name: 'primary-ram', base: 0x8000_0000, size: 0x6000_0000, kind: 'ram', owner: 'primary-kernel' },
    { name: 'crashkernel', base: 0xe000_0000, size: 0x2000_0000, kind: 'crashkernel', owner: 'kdump-kernel' },
    { name: 'primary-ram-high', base: 0x1_0000_0000, size: 0x4000_0000, kind: 'ram', owner: 'primary-kernel' },
    { name: 'device-buffers', base: 0x1_4000_0000, size: 0x1000_0000, kind: 'device-buffer', owner: 'devices' },
    { name: 'pcie-bars', base: 0x40_0000_0000, size: 0x10_0000_0000, kind: 'mmio', owner: 'pcie' },
  ];
}
