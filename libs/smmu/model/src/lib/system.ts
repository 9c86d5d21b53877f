// SPDX-License-Identifier: Apache-2.0
// The platform as the smmu-twin service will host it: virtual time, the seeded RNG, physical
// memory and one or more SMMUv3 instances, with a versioned snapshot of all of it so a crash
// can be saved and replayed.

import { PhysicalMemory, SeededRng, VirtualClock, type MemoryConfig, type MemorySnapshot } from '@kdump-twin/platform';
import type { SmmuConfig } from './config';
import { SmmuV3, type SmmuSnapshot } from './smmu';

export interface SystemConfig {
  readonly seed: number | string;
  readonly memory: MemoryConfig;
  readonly smmus: readonly Partial<SmmuConfig>[];
}

export interface SystemSnapshot {
  readonly kind: 'kdump-twin/smmu-system';
  readonly version: 2;
  readonly time: number;
  readonly rng: number[];
  readonly memory: MemorySnapshot;
  readonly smmus: SmmuSnapshot[];
}

export class SmmuSystem {
  private constructor(
    readonly clock: VirtualClock,
    readonly rng: SeededRng,
    readonly memory: PhysicalMemory,
    readonly smmus: SmmuV3[],
  ) {}

  static create(c: SystemConfig): SmmuSystem {
    const clock = new VirtualClock();
    const memory = new PhysicalMemory(c.memory, clock);
    const rng = new SeededRng(c.seed);
    const smmus = c.smmus.map((s, i) => {
      const name = s.name ?? `smmu${i}`;
      return new SmmuV3(clock, memory, { ...s, name }, rng.fork(`smmu/${name}`));
    });
    const names = new Set(smmus.map((s) => s.name));
    if (names.size !== smmus.length) throw new RangeError('smmus[].name: every SMMU needs a distinct name');
    return new SmmuSystem(clock, rng, memory, smmus);
  }

  smmu(name: string): SmmuV3 | undefined {
    return this.smmus.find((s) => s.name === name);
  }

  /** The whole state, JSON-serialisable (bigints as hex strings). Pending timers are data. */
  snapshot(): SystemSnapshot {
    return {
      kind: 'kdump-twin/smmu-system',
      version: 2,
      time: this.clock.now(),
      rng: this.rng.getState(),
      memory: this.memory.snapshot(),
      smmus: this.smmus.map((s) => s.snapshot()),
    };
  }

  /** Rebuilds a system from snapshot(); throws a RangeError naming the field when it is not one. */
  static restore(s: SystemSnapshot): SmmuSystem {
    if (s?.kind !== 'kdump-twin/smmu-system') throw new RangeError("snapshot.kind: expected 'kdump-twin/smmu-system'");
    if (s.version !== 2) throw new RangeError(`snapshot.version: ${String(s.version)} is not supported (expected 2)`);
    if (!Number.isSafeInteger(s.time) || s.time < 0) throw new RangeError('snapshot.time: a non-negative integer of virtual nanoseconds');
    const clock = new VirtualClock();
    clock.advanceTo(s.time);
    const memory = PhysicalMemory.restore(s.memory, clock);
    // One call for all SMMUs: their pending timers share the clock and keep their joint order.
    const smmus = SmmuV3.restoreAll(clock, memory, s.smmus);
    return new SmmuSystem(clock, SeededRng.fromState(s.rng), memory, smmus);
  }
}
