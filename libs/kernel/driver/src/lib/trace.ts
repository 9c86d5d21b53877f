// SPDX-License-Identifier: Apache-2.0
// The MMIO trace: every register access a kernel makes (virtual time, kernel, SMMU, register,
// direction, value, result). Consecutive identical polling reads collapse into one record with
// a repeat count, so a one-second timeout stays one line.

import type { MmioResult } from './bus';

export interface MmioAccess {
  readonly time: number;
  readonly kernel: string;
  readonly smmu: string;
  readonly register: string;
  readonly offset: number;
  readonly dir: 'read' | 'write';
  readonly size: 4 | 8;
  readonly value: bigint;
  readonly result: MmioResult;
  readonly rule?: string;
  /** How many identical consecutive reads this record stands for (1 for writes). */
  repeat: number;
  /** Virtual time of the last repeat. */
  until: number;
}

export class MmioTrace {
  private readonly records: MmioAccess[] = [];

  record(a: Omit<MmioAccess, 'repeat' | 'until'>, times = 1): void {
    const last = this.records.at(-1);
    if (
      a.dir === 'read' &&
      last &&
      last.dir === 'read' &&
      last.offset === a.offset &&
      last.smmu === a.smmu &&
      last.kernel === a.kernel &&
      last.value === a.value &&
      last.result === a.result
    ) {
      last.repeat += times;
      last.until = a.time;
      return;
    }
    this.records.push({ ...a, repeat: times, until: a.time });
  }

  all(): readonly MmioAccess[] {
    return this.records;
  }

  /** Accesses of one kernel, optionally one direction and register. */
  of(kernel: string, filter: { dir?: 'read' | 'write'; register?: string } = {}): MmioAccess[] {
    return this.records.filter((r) => r.kernel === kernel && (!filter.dir || r.dir === filter.dir) && (!filter.register || r.register === filter.register));
  }

  /** Register names written by `kernel`, in first-write order. */
  written(kernel: string): string[] {
    return [...new Set(this.of(kernel, { dir: 'write' }).map((r) => r.register))];
  }
}
