// SPDX-License-Identifier: Apache-2.0
// Every format by name, and decode with dispatch for the generic `cmd` and `evt` formats.

import { CMD, COMMANDS, commandForOpcode } from './commands';
import { DESCRIPTORS } from './descriptors';
import { EVENTS, EVT, eventForId } from './events';
import { type Decoded, Layout } from './layout';
import { GATOS_PAR_FAULT, REGISTERS, RegisterLayout } from './registers';
import { CD, CD_L1, L1STD, STE } from './tables';

export const STRUCTURES: readonly Layout[] = [STE, CD, L1STD, CD_L1, EVT, ...EVENTS, CMD, ...COMMANDS, ...DESCRIPTORS, GATOS_PAR_FAULT];

const ALL: readonly Layout[] = [...REGISTERS, ...STRUCTURES];
const byName = new Map<string, Layout>(ALL.map((l) => [l.name.toLowerCase(), l]));

/** Format names: registers without the SMMU_ prefix, then structures. */
export function formatNames(): string[] {
  return ALL.map((l) => l.name);
}

/**
 * Looks a format up by name, case-insensitively; accepts the SMMU_ prefix and Linux's EVTQ_
 * spelling of the EVENTQ_ registers (ARM_SMMU_EVTQ_PROD).
 */
export function findFormat(name: string): Layout | undefined {
  const n = name
    .trim()
    .toLowerCase()
    .replace(/^(arm_)?smmu_/, '')
    .replace(/^evtq_/, 'eventq_');
  return byName.get(n);
}

export function findRegister(name: string): RegisterLayout | undefined {
  const l = findFormat(name);
  return l instanceof RegisterLayout ? l : undefined;
}

/** The register at a byte offset from the SMMU base (page 1 at +0x10000), by its first byte. */
export function registerAt(absoluteOffset: number): RegisterLayout | undefined {
  return REGISTERS.find((r) => r.absoluteOffset === absoluteOffset);
}

/** The table the words are decoded with: `cmd`/`evt` resolve to the opcode's/ID's table. */
export function resolveFormat(layout: Layout, words: readonly bigint[]): Layout {
  if (layout === CMD) return commandForOpcode(Number(CMD.get(words, 'Opcode'))) ?? CMD;
  if (layout === EVT) return eventForId(Number(EVT.get(words, 'EventID'))) ?? EVT;
  return layout;
}

/** Decodes with `layout`, dispatching `cmd` and `evt` on their opcode or event ID. */
export function decodeFormat(layout: Layout, words: readonly bigint[]): Decoded {
  return resolveFormat(layout, words).decode(words);
}
