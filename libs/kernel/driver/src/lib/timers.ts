// SPDX-License-Identifier: Apache-2.0
// A kernel's timers as the driver model needs them (mod_timer): the flush queue of a lazy DMA
// domain arms one. The scenario engine runs each on a thread of its kernel; tests fire them.

/** `fn` runs on a thread of the kernel `ns` from now, and never once the kernel has halted. */
export interface KernelTimers {
  arm(name: string, ns: number, fn: () => Promise<void>): void;
}
