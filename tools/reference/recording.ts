// SPDX-License-Identifier: Apache-2.0
// The format of a decoded reference recording (tools/reference/recordings/*.json): what real
// Linux did on QEMU's SMMUv3, per kernel, in the twin's own terms (register names from
// @kdump-twin/smmu-arch, command names as IHI0070 4.1 spells them), small enough to commit and
// to read in a review. The conformance test holds the twin against these files; nothing in
// them comes from the twin.
import type { Recipe } from './recipe';

export const RECORDING_FORMAT = 'kdump-twin-reference/1';

/** One register access; consecutive identical reads collapse into one with a repeat count. */
export interface RefMmio {
  readonly register: string;
  /** Byte offset from the SMMU base, page 1 restored (QEMU folds page 1 onto page 0). */
  readonly offset: string;
  readonly dir: 'read' | 'write';
  readonly size: 4 | 8;
  readonly value: string;
  readonly repeat: number;
}

/** A command as QEMU's trace shows it: the opcode and the fields QEMU prints for it. */
export interface RefCommand {
  readonly op: string;
  readonly sid?: number;
  /** CFGI_STE_RANGE: first and last StreamID (0..0xffffffff is CFGI_ALL). */
  readonly range?: readonly [number, number];
  readonly asid?: number;
  readonly vmid?: number;
  /** TLBI_NH_VA/VAA: the range invalidations QEMU splits it into (addr, pages, tg, ttl, leaf). */
  readonly inval?: readonly { readonly addr: string; readonly pages: number; readonly tg: number; readonly ttl: number; readonly leaf: boolean }[];
}

/** Consecutive command batches of one shape (the opcodes in order), the first one's fields. */
export interface RefBatchRun {
  readonly ops: string;
  readonly repeat: number;
  readonly first: readonly RefCommand[];
}

/** Appends a batch to `runs`, counting it into the last run when it has the same shape. */
export function addBatchRun(runs: RefBatchRun[], batch: readonly RefCommand[]): void {
  const ops = batch.map((c) => c.op).join(',');
  const last = runs.at(-1);
  if (last && last.ops === ops) runs[runs.length - 1] = { ...last, repeat: last.repeat + 1 };
  else runs.push({ ops, repeat: 1, first: batch });
}

export interface RefKernel {
  /** The SMMU probe, from the kernel's first SMMU access to the CR0 write that sets SMMUEN
   *  and the CR0ACK read that sees it: every access and every command batch. */
  readonly probe: { readonly mmio: readonly RefMmio[]; readonly commandBatches: readonly (readonly RefCommand[])[] };
  /** The rest of the kernel's life (device attaches, DMA map/unmap, shutdown): register
   *  accesses counted by register and direction, command batches in order with consecutive
   *  batches of one shape collapsed. */
  readonly after: { readonly mmio: Readonly<Record<string, number>>; readonly batches: readonly RefBatchRun[] };
  /** The kernel's console lines of the SMMU driver, the iommu core and the recipe's devices,
   *  without the printk timestamp. */
  readonly dmesg: readonly string[];
  /** /init's steps (REF lines) in order, seconds from the crash (negative before it). */
  readonly steps: readonly { readonly step: string; readonly at: number }[];
}

/** What a stretch of a device's DMA got from the SMMU: consecutive translations of one kind. */
export interface RefOutcomeRun {
  /** translated: through the STE and page tables; abort: STE.Config abort; error: a
   *  configuration or translation fault (event names it); disabled: SMMUEN=0, the SMMU let it
   *  through; bypass: STE bypass. */
  readonly outcome: 'translated' | 'abort' | 'error' | 'disabled' | 'bypass';
  readonly event?: string;
  readonly count: number;
  /** Seconds from the crash of the first and the last. */
  readonly first: number;
  readonly last: number;
}

export const PHASES = ['primary', 'crashed', 'kdump-before-reset', 'kdump'] as const;
export type Phase = (typeof PHASES)[number];

export interface RefDevice {
  readonly name: string;
  readonly sid: number;
  readonly phases: Readonly<Record<Phase, readonly RefOutcomeRun[]>>;
}

export interface Recording {
  readonly format: typeof RECORDING_FORMAT;
  readonly recipe: Recipe;
  /** QEMU and every guest package that made the recording. */
  readonly versions: Readonly<Record<string, string>>;
  /** The SMMU's ID registers as the primary kernel read them. */
  readonly idr: Readonly<Record<string, string>>;
  /** Seconds from the crash: the kdump kernel's first SMMU access, its CR0 write (the reset),
   *  and the end of the trace. */
  readonly boundaries: { readonly kdumpFirstAccess: number; readonly kdumpReset: number | null; readonly end: number };
  readonly kernels: { readonly primary: RefKernel; readonly kdump: RefKernel };
  readonly devices: readonly RefDevice[];
}
