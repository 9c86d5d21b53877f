// SPDX-License-Identifier: Apache-2.0
// Command queue entries (IHI0070 chapter 4): 16 bytes, dw0[7:0] the opcode. One field table per
// command; `cmd` alone decodes any entry by its opcode.

import { MEMATTR, SHAREABILITY, SHAREABILITY_RESERVED } from './enums';
import { addr, bit, fld, type FieldSpec, Layout, reserved, structure } from './layout';

/** Every opcode the architecture defines (IHI0070 4.1.1), Linux CMDQ_OP_* where it has one. */
export const OPCODES = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  CFGI_VMS_PIDM: 0x07,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
  TLBI_S_EL2_ALL: 0x50,
  TLBI_S_EL2_ASID: 0x51,
  TLBI_S_EL2_VA: 0x52,
  TLBI_S_EL2_VAA: 0x53,
  TLBI_S_S12_VMALL: 0x58,
  TLBI_S_S2_IPA: 0x5a,
  TLBI_SNH_ALL: 0x60,
  DPTI_ALL: 0x70,
  DPTI_PA: 0x73,
} as const;
export type OpcodeName = keyof typeof OPCODES;

/** CMD_SYNC.CS (IHI0070 4.7.3): Linux CMDQ_SYNC_0_CS_*. */
export const SYNC_CS = { NONE: 0, IRQ: 1, SEV: 2 } as const;
/** PRI_RESP.Resp (IHI0070 4.5.2): Linux PRI_RESP_DENY/FAIL/SUCC. */
export const PRI_RESP_CODE = { DENY: 0, FAIL: 1, SUCC: 2 } as const;

const opcode = (op: number): FieldSpec => fld('Opcode', 0, 7, 0, 'command opcode', { values: OPCODES, fixed: BigInt(op) });
const ssec = bit('SSec', 0, 10, 'Secure stream; must be 0 on the Non-secure queue (else CERROR_ILL)');
const ssv = bit('SSV', 0, 11, 'SubstreamID valid');
const ssid = fld('SubstreamID', 0, 31, 12, 'SubstreamID');
const sid = fld('StreamID', 0, 63, 32, 'StreamID');
const vmid = fld('VMID', 0, 47, 32, 'VMID');
const asid = fld('ASID', 0, 63, 48, 'ASID');
// Range and level-hint fields shared by every address-based TLBI (IHI0070 4.4.1.1): NUM [16:12],
// SCALE [25:20] (bit 25 only used with IDR5.DS==1), TTL128 [71], TTL [73:72], TG [75:74].
const num = fld('NUM', 0, 16, 12, 'range: number of translation granules - 1 (with TG != 0)');
const scale = fld('SCALE', 0, 25, 20, 'range: exponent of the range size (with TG != 0); bit 25 RES0 unless IDR5.DS==1');
const leaf = bit('Leaf', 1, 0, 'last level only (TLBI) / leaf entry only (CFGI)');
const ttl128 = bit('TTL128', 1, 7, 'range: the TTL hint is for 128-bit descriptors (RES0 while TG or TTL is 0)');
const ttl = fld('TTL', 1, 9, 8, 'range: level hint (TTL)');
const tg = fld('TG', 1, 11, 10, 'range: translation granule, 0 = not a range command', { values: { NONE: 0, G4K: 1, G16K: 2, G64K: 3 } });
const va = addr('Address', 1, 63, 12, 'virtual address [63:12]');
const ipa = addr('Address', 1, 55, 12, 'IPA [55:12] (Linux CMDQ_TLBI_1_IPA_MASK [51:12])');
const pa = addr('Address', 1, 55, 12, 'physical address [55:12]');

/** The IHI0070 sub-section that describes each command (the opcode table is 4.1.1). */
export const COMMAND_SECTIONS: Readonly<Record<OpcodeName, string>> = {
  PREFETCH_CONFIG: '4.2.1',
  PREFETCH_ADDR: '4.2.2',
  CFGI_STE: '4.3.1',
  CFGI_STE_RANGE: '4.3.2',
  CFGI_CD: '4.3.3',
  CFGI_CD_ALL: '4.3.4',
  CFGI_VMS_PIDM: '4.3.5',
  TLBI_NH_ALL: '4.4.2.1',
  TLBI_NH_ASID: '4.4.2.2',
  TLBI_NH_VAA: '4.4.2.3',
  TLBI_NH_VA: '4.4.2.4',
  TLBI_EL3_ALL: '4.4.2.5',
  TLBI_EL3_VA: '4.4.2.6',
  TLBI_EL2_ALL: '4.4.2.7',
  TLBI_EL2_VA: '4.4.2.8',
  TLBI_EL2_VAA: '4.4.2.9',
  TLBI_EL2_ASID: '4.4.2.10',
  TLBI_S_EL2_ALL: '4.4.2.11',
  TLBI_S_EL2_VA: '4.4.2.12',
  TLBI_S_EL2_VAA: '4.4.2.13',
  TLBI_S_EL2_ASID: '4.4.2.14',
  TLBI_S2_IPA: '4.4.3.1',
  TLBI_S12_VMALL: '4.4.3.2',
  TLBI_S_S2_IPA: '4.4.3.3',
  TLBI_S_S12_VMALL: '4.4.3.4',
  TLBI_NSNH_ALL: '4.4.4.1',
  TLBI_SNH_ALL: '4.4.4.2',
  ATC_INV: '4.5.1',
  PRI_RESP: '4.5.2',
  DPTI_ALL: '4.6.1',
  DPTI_PA: '4.6.2',
  RESUME: '4.7.1',
  STALL_TERM: '4.7.2',
  CMD_SYNC: '4.7.3',
};

const cmd = (name: OpcodeName, doc: string, fields: FieldSpec[]): Layout =>
  structure(`cmd-${name}`, 16, `IHI0070 ${COMMAND_SECTIONS[name]}`, doc, [opcode(OPCODES[name]), ...fields]);

/** One table per command, keyed by name. CFGI_ALL is CFGI_STE_RANGE with Range=31. */
export const COMMANDS: readonly Layout[] = [
  cmd('PREFETCH_CONFIG', 'prefetch the configuration of a StreamID (hint, never faults)', [ssec, ssv, ssid, sid]),
  cmd('PREFETCH_ADDR', 'prefetch translations for an address range (hint)', [
    ssec,
    ssv,
    ssid,
    sid,
    fld('Size', 1, 4, 0, 'prefetch 2^Size translations, one per stride'),
    fld('Stride', 1, 9, 5, 'stride of 2^(12+Stride) bytes between prefetched addresses (RES0 in v3.0)'),
    bit('NS', 1, 11, 'NS input to Secure stage 2 for a Secure stream without stage 1; RES0 on the Non-secure queue'),
    va,
  ]),
  cmd('CFGI_STE', 'invalidate the STE of StreamID and the CDs cached through it; Leaf=0 also the L1STD', [ssec, sid, leaf]),
  cmd('CFGI_STE_RANGE', 'invalidate 2^(Range+1) aligned StreamIDs; Range=31 is CFGI_ALL', [
    ssec,
    sid,
    fld('Range', 1, 4, 0, 'log2(number of StreamIDs) - 1; 31 = all', { values: { ALL: 31 } }),
  ]),
  structure('cmd-CFGI_ALL', 16, 'IHI0070 4.3.6', 'invalidate every cached configuration: CFGI_STE_RANGE with Range=31 (Linux CMDQ_OP_CFGI_ALL)', [
    opcode(OPCODES.CFGI_STE_RANGE),
    ssec,
    sid,
    fld('Range', 1, 4, 0, 'must be 31 (all)', { fixed: 31n }),
  ]),
  cmd('CFGI_CD', 'invalidate the CD at SubstreamID as seen through StreamID; Leaf=0 also the L1CD', [ssec, ssid, sid, leaf]),
  cmd('CFGI_CD_ALL', 'invalidate every CD and L1CD cached for StreamID', [ssec, sid]),
  cmd('CFGI_VMS_PIDM', 'invalidate the MPAM PARTID map of a VMS', [ssec, vmid]),
  cmd('TLBI_NH_ALL', 'invalidate every NS-EL1 stage-1 entry of VMID', [vmid]),
  cmd('TLBI_NH_ASID', 'invalidate non-global NS-EL1 entries of (VMID, ASID)', [vmid, asid]),
  cmd('TLBI_NH_VA', 'invalidate NS-EL1 entries of (VMID, ASID, VA) and global entries of (VMID, VA)', [num, scale, vmid, asid, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_NH_VAA', 'invalidate NS-EL1 entries of (VMID, VA) for all ASIDs', [num, scale, vmid, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_EL3_ALL', 'EL3 invalidate all; CERROR_ILL on the Non-secure queue', []),
  cmd('TLBI_EL3_VA', 'EL3 invalidate by VA; CERROR_ILL on the Non-secure queue', [num, scale, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_EL2_ALL', 'invalidate every NS-EL2 and EL2-E2H entry; CERROR_ILL if !IDR0.Hyp', []),
  cmd('TLBI_EL2_ASID', 'invalidate EL2-E2H entries of ASID', [asid]),
  cmd('TLBI_EL2_VA', 'invalidate EL2 (or EL2-E2H, by CR2.E2H) entries by VA', [num, scale, asid, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_EL2_VAA', 'invalidate EL2-E2H entries by VA for all ASIDs', [num, scale, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_S12_VMALL', 'invalidate every stage-1 and stage-2 entry of VMID; CERROR_ILL without S2P', [vmid]),
  cmd('TLBI_S2_IPA', 'invalidate stage-2 entries of (VMID, IPA)', [num, scale, vmid, leaf, ttl128, ttl, tg, ipa]),
  cmd('TLBI_NSNH_ALL', 'invalidate every Non-secure non-EL2 entry, all stages', []),
  cmd('ATC_INV', 'PCIe ATS invalidation of 4096*2^Size bytes (Size 52 = all); ignored while SMMUEN==0', [
    bit('Global', 0, 9, 'invalidate global ATC entries too'),
    ssv,
    ssid,
    sid,
    fld('Size', 1, 5, 0, 'log2 of the span in 4KB units; 52 = everything (Linux ATC_INV_SIZE_ALL)', { values: { ALL: 52 } }),
    va,
  ]),
  cmd('PRI_RESP', 'PRI page group response; CERROR_ILL if !IDR0.PRI', [
    ssec,
    ssv,
    ssid,
    sid,
    fld('PRGIndex', 1, 8, 0, 'page request group index'),
    fld('Resp', 1, 13, 12, 'response', { values: PRI_RESP_CODE, reserved: [reserved(3, 3, 'ILLEGAL (CERROR_ILL)')] }),
  ]),
  cmd('RESUME', 'retry or terminate the stalled transaction (StreamID, STAG); CERROR_ILL if STALL_MODEL==1', [
    ssec,
    bit('Ac', 0, 12, 'action: 1 retry, 0 terminate (Linux CMDQ_RESUME_0_RESP RETRY=1)'),
    bit('Ab', 0, 13, 'on terminate: 1 abort, 0 RAZ/WI when TERM_MODEL==0 (Linux RESP ABORT=2)'),
    sid,
    fld('STAG', 1, 15, 0, 'stall tag from the event record'),
  ]),
  cmd('STALL_TERM', 'terminate every stalled transaction of StreamID', [ssec, sid]),
  cmd('CMD_SYNC', 'complete when every earlier command has completed; signal by CS', [
    fld('CS', 0, 13, 12, 'completion signal (Linux CMDQ_SYNC_0_CS)', { values: SYNC_CS, reserved: [reserved(3, 3, 'reserved (CERROR_ILL)')] }),
    fld('MSH', 0, 23, 22, 'MSI shareability', { values: SHAREABILITY, reserved: SHAREABILITY_RESERVED }),
    fld('MSIAttr', 0, 27, 24, 'MSI memory type (Linux 0xF: WB)', { values: MEMATTR }),
    fld('MSIData', 0, 63, 32, '32-bit MSI payload'),
    addr('MSIAddress', 1, 55, 2, 'MSI address [55:2] (Linux CMDQ_SYNC_1_MSIADDR_MASK [51:2]); 0 = no MSI'),
  ]),
  cmd('TLBI_S_EL2_ALL', 'Secure EL2 invalidate all; CERROR_ILL on the Non-secure queue', []),
  cmd('TLBI_S_EL2_ASID', 'Secure EL2 invalidate by ASID; CERROR_ILL on the Non-secure queue', [asid]),
  cmd('TLBI_S_EL2_VA', 'Secure EL2 invalidate by VA; CERROR_ILL on the Non-secure queue', [num, scale, asid, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_S_EL2_VAA', 'Secure EL2 invalidate by VA, all ASIDs; CERROR_ILL on the Non-secure queue', [num, scale, leaf, ttl128, ttl, tg, va]),
  cmd('TLBI_S_S12_VMALL', 'Secure stage-1+2 invalidate by VMID; CERROR_ILL on the Non-secure queue', [vmid]),
  cmd('TLBI_S_S2_IPA', 'Secure stage-2 invalidate by IPA; CERROR_ILL on the Non-secure queue', [
    num,
    scale,
    vmid,
    leaf,
    ttl128,
    ttl,
    tg,
    bit('NS', 1, 1, 'Non-secure IPA space'),
    ipa,
  ]),
  cmd('TLBI_SNH_ALL', 'Secure non-EL2 invalidate all; CERROR_ILL on the Non-secure queue', []),
  cmd('DPTI_ALL', 'invalidate every cached DPT entry for the Security state of the queue; CERROR_ILL if !IDR3.DPT', []),
  // IHI0070 4.6.2 also defines a 4-bit SIZE (4KB..512GB) whose position the text copy does not give: not modelled.
  cmd('DPTI_PA', 'invalidate DPT cache entries for a physical address region; CERROR_ILL if !IDR3.DPT', [leaf, pa]),
];

/** Generic command entry: the opcode and the StreamID common to most commands. */
export const CMD = structure('cmd', 16, 'IHI0070 4.1.1', 'any command queue entry; decode dispatches on the opcode to cmd-<OPCODE>', [
  fld('Opcode', 0, 7, 0, 'command opcode', {
    values: OPCODES,
    reserved: reservedRanges(Object.values(OPCODES), 0xff, 'reserved opcode (CERROR_ILL)', { min: 0x80, max: 0x8f, rule: 'IMPLEMENTATION DEFINED opcode' }),
  }),
]);

/** Ranges of [0, top] not in `used`, so a reserved-value check can name them. */
export function reservedRanges(used: readonly number[], top: number, rule: string, ...special: { min: number; max: number; rule: string }[]) {
  const set = new Set(used);
  const out: { min: number; max: number; rule: string }[] = [];
  let v = 0;
  while (v <= top) {
    const sp = special.find((s) => v >= s.min && v <= s.max);
    if (sp) {
      out.push(sp);
      v = sp.max + 1;
      continue;
    }
    if (set.has(v)) {
      v++;
      continue;
    }
    const start = v;
    while (v <= top && !set.has(v) && !special.some((s) => v >= s.min && v <= s.max)) v++;
    out.push(reserved(start, v - 1, rule));
  }
  return out;
}

const byOpcode = new Map<number, Layout>();
for (const c of COMMANDS) {
  const op = Number(c.fields[0]!.fixed);
  if (c.name !== 'cmd-CFGI_ALL' && !byOpcode.has(op)) byOpcode.set(op, c);
}

/** The table for an opcode, or undefined for a reserved or IMPLEMENTATION DEFINED opcode. */
export function commandForOpcode(op: number): Layout | undefined {
  return byOpcode.get(op);
}
