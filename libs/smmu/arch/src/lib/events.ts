// SPDX-License-Identifier: Apache-2.0
// Event queue records (IHI0070 7.3): 32 bytes, dw0[7:0] the event ID. One table per event
// type with the fields that type records; `evt` alone decodes any record by its ID.

import { addr, bit, fld, type FieldSpec, Layout, structure } from './layout';
import { reservedRanges } from './commands';

/** Every event ID of IHI0070 7.3.2-7.3.21 (Linux EVT_ID_* where defined). */
export const EVENT_IDS = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;
export type EventName = keyof typeof EVENT_IDS;

/** Event CLASS (IHI0070 7.3): which access of the walk faulted. Linux EVTQ_1_CLASS. */
export const EVENT_CLASS = { CD: 0, TT: 1, IN: 2 } as const;

const eventId = (id: number): FieldSpec => fld('EventID', 0, 7, 0, 'event type', { values: EVENT_IDS, fixed: BigInt(id) });
const ssv = bit('SSV', 0, 11, 'SubstreamID valid');
const ssid = fld('SubstreamID', 0, 31, 12, 'SubstreamID of the transaction');
const sid = fld('StreamID', 0, 63, 32, 'StreamID of the transaction');
const header = [ssv, ssid, sid];
const stag = fld('STAG', 1, 15, 0, 'stall tag, valid when Stall==1');
const stall = bit('Stall', 1, 31, 'the transaction is stalled awaiting CMD_RESUME');
const pnu = bit('PnU', 1, 33, 'privileged (after STE.PRIVCFG)');
const ind = bit('InD', 1, 34, 'instruction (after STE.INSTCFG); 0 for writes');
const rnw = bit('RnW', 1, 35, 'read (1) or write (0)');
const s2 = bit('S2', 1, 39, 'the fault happened at stage 2');
const cls = fld('CLASS', 1, 41, 40, 'access class of the faulting access', { values: EVENT_CLASS, reserved: [{ min: 3, max: 3, rule: 'reserved' }] });
const ttrnw = bit('TTRnW', 1, 44, 'CLASS=TT: a descriptor read (1) or an HTTU write (0) faulted (Linux EVTQ_1_TT_READ)');
const inputAddr = fld('InputAddr', 2, 63, 0, 'input address as presented (Linux EVTQ_2_ADDR)');
const ipa = addr('IPA', 3, 55, 12, 'faulting IPA for stage-2 faults (Linux EVTQ_3_IPA [51:12])');
const fetchAddr = addr('FetchAddr', 3, 55, 3, 'physical address of the aborted fetch (newer Linux EVTQ_3_FETCH_ADDR [51:3])');
// IMPLEMENTATION DEFINED cause: dw1[15:0] (bits [79:64]) in F_UUT, F_STE_FETCH and F_VMS_FETCH (IHI0070 7.3.2, 7.3.4, 7.3.20).
const reason16 = fld('Reason', 1, 15, 0, 'IMPLEMENTATION DEFINED cause');
// Granule protection check fault flag: bit 80 of the fetch-abort records (IHI0070 7.3, 7.3.4, 7.3.20).
const gpcf = bit('GPCF', 1, 16, 'the abort came from a granule protection check (RME)');
const attrs = [pnu, ind, rnw];
const translationFault = [...header, stag, stall, ...attrs, s2, cls, inputAddr, ipa];

/** The IHI0070 sub-section that describes each event record. */
export const EVENT_SECTIONS: Readonly<Record<EventName, string>> = {
  F_UUT: '7.3.2',
  C_BAD_STREAMID: '7.3.3',
  F_STE_FETCH: '7.3.4',
  C_BAD_STE: '7.3.5',
  F_BAD_ATS_TREQ: '7.3.6',
  F_STREAM_DISABLED: '7.3.7',
  F_TRANSL_FORBIDDEN: '7.3.8',
  C_BAD_SUBSTREAMID: '7.3.9',
  F_CD_FETCH: '7.3.10',
  C_BAD_CD: '7.3.11',
  F_WALK_EABT: '7.3.12',
  F_TRANSLATION: '7.3.13',
  F_ADDR_SIZE: '7.3.14',
  F_ACCESS: '7.3.15',
  F_PERMISSION: '7.3.16',
  F_TLB_CONFLICT: '7.3.17',
  F_CFG_CONFLICT: '7.3.18',
  E_PAGE_REQUEST: '7.3.19',
  F_VMS_FETCH: '7.3.20',
};

const evt = (name: EventName, doc: string, fields: FieldSpec[]): Layout =>
  structure(`evt-${name}`, 32, `IHI0070 ${EVENT_SECTIONS[name]}`, doc, [eventId(EVENT_IDS[name]), ...fields]);

export const EVENTS: readonly Layout[] = [
  evt('F_UUT', 'unsupported upstream transaction; may be recorded while SMMUEN==0', [
    ...header,
    reason16,
    bit('PnU', 1, 33, 'privileged, as presented (before any STE override)'),
    bit('InD', 1, 34, 'instruction, as presented (before any STE override)'),
    rnw,
    inputAddr,
  ]),
  evt('C_BAD_STREAMID', 'StreamID out of range or under an invalid L1STD; only if CR2.RECINVSID', header),
  evt('F_STE_FETCH', 'external abort or out-of-range address fetching the STE or L1STD', [...header, reason16, gpcf, fetchAddr]),
  evt('C_BAD_STE', 'STE V==0 or ILLEGAL (not for Config=0b000)', header),
  evt('F_BAD_ATS_TREQ', 'ATS translation request refused (SMMUEN==0 or effective EATS==0); the request gets UR', [...header, pnu, ind, rnw, inputAddr]),
  evt('F_STREAM_DISABLED', 'no SSID with S1DSS=0, or SSID 0 with S1DSS=2', header),
  evt('F_TRANSL_FORBIDDEN', 'ATS-translated transaction not allowed; may be recorded while SMMUEN==0', [...header, rnw, inputAddr]),
  // No SSV in this record: bit 11 is RES0 and SubstreamID is always valid (IHI0070 7.3.9).
  evt('C_BAD_SUBSTREAMID', 'SSID not allowed, out of range, or under an invalid L1CD', [ssid, sid]),
  evt('F_CD_FETCH', 'external abort fetching the CD or L1CD', [...header, fetchAddr]),
  evt('C_BAD_CD', 'CD V==0 or ILLEGAL', header),
  evt('F_WALK_EABT', 'external abort fetching or updating a translation table descriptor', [...header, stag, stall, ...attrs, s2, cls, inputAddr, fetchAddr]),
  evt('F_TRANSLATION', 'translation fault: outside TxSZ/SL0 range, EPDx, or an invalid descriptor', translationFault),
  evt('F_ADDR_SIZE', 'address size fault: descriptor or bypassed input above IPS/S2PS/IAS/OAS', translationFault),
  evt('F_ACCESS', 'access flag fault', translationFault),
  evt('F_PERMISSION', 'permission fault (TTRnW valid with CLASS=TT)', [...translationFault, ttrnw]),
  evt('F_TLB_CONFLICT', 'TLB conflict (IMPLEMENTATION DEFINED)', [...header, rnw, s2, inputAddr]),
  evt('F_CFG_CONFLICT', 'configuration cache conflict (STE.CONT)', [...header, fld('Reason', 1, 31, 0, 'IMPLEMENTATION DEFINED conflict reason')]),
  // IHI0070 7.3.19: no Reason field; bits 100 and 96 and the low 12 address bits are RES0.
  evt('E_PAGE_REQUEST', 'speculative page request hint: the device expects to access Span*4KB at InputAddr', [
    ...header,
    bit('uX', 1, 33, 'unprivileged execute expected'),
    bit('uW', 1, 34, 'unprivileged write expected'),
    bit('uR', 1, 35, 'unprivileged read expected'),
    bit('pX', 1, 37, 'privileged execute expected'),
    bit('pW', 1, 38, 'privileged write expected'),
    bit('pR', 1, 39, 'privileged read expected'),
    fld('Span', 1, 51, 44, 'size of the expected access span in 4KB units'),
    addr('InputAddr', 2, 63, 12, 'start of the span, InputAddr[63:12]'),
  ]),
  evt('F_VMS_FETCH', 'external abort fetching the VMS', [...header, reason16, gpcf, fetchAddr]),
];

export const EVT = structure('evt', 32, 'IHI0070 7.3', 'any event record; decode dispatches on the event ID to evt-<EVENT>', [
  fld('EventID', 0, 7, 0, 'event type', {
    values: EVENT_IDS,
    reserved: reservedRanges(Object.values(EVENT_IDS), 0xff, 'reserved event ID', {
      min: 0xe0,
      max: 0xef,
      rule: 'IMPLEMENTATION DEFINED event (IMPDEF_EVENTn)',
    }),
  }),
  ...header,
]);

const byId = new Map<number, Layout>(EVENTS.map((e) => [Number(e.fields[0]!.fixed), e]));

export function eventForId(id: number): Layout | undefined {
  return byId.get(id);
}
