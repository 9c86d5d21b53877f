// SPDX-License-Identifier: Apache-2.0
// In-memory formats the endpoints and their host drivers exchange through DMA: the NIC's ring
// descriptors, the NVMe submission and completion queue entries, and the copy engine's job
// descriptors. Field tables in the smmu-arch Layout form (little-endian dwords), so every shift
// and mask stays in a table and the device model and the host driver decode the same bytes.

import { bit, dwordsFromBytes, dwordsToBytes, fld, structure, type Layout } from '@kdump-twin/smmu-arch';

/**
 * A NIC ring descriptor, 16 bytes, modelled on the ixgbe/82599 advanced descriptors (82599
 * datasheet 7.1.6 receive, 7.2.3 transmit): the host writes the buffer address; the device
 * writes back the length and the Descriptor Done bit.
 */
export const NIC_DESC = structure(
  'nic-desc',
  16,
  '82599 datasheet 7.1.6 / 7.2.3 (twin NIC)',
  'NIC RX/TX ring descriptor: buffer address, length, DD write-back',
  [
    fld('BufferAddress', 0, 63, 0, 'device address (IOVA) of the packet buffer'),
    fld('Length', 1, 15, 0, 'RX: bytes the device wrote (write-back); TX: bytes to send'),
    bit('DD', 1, 32, 'Descriptor Done: written back by the device'),
    bit('EOP', 1, 33, 'End Of Packet'),
    bit('ERR', 1, 34, 'the device could not complete the descriptor'),
  ],
);

/** NVMe I/O opcodes (NVM Command Set: Write 01h, Read 02h). */
export const NVME_OPC = { WRITE: 0x01, READ: 0x02 } as const;

/** NVMe Submission Queue Entry, 64 bytes (NVM Express Base 2.0, Submission Queue Entry; NVM Command Set Read/Write CDW10-12). */
export const NVME_SQE = structure('nvme-sqe', 64, 'NVMe Base 2.0 SQE; NVM Command Set Read/Write', 'NVMe submission queue entry (PRP data pointer)', [
  fld('OPC', 0, 7, 0, 'CDW0 opcode'),
  fld('FUSE', 0, 9, 8, 'CDW0 fused operation'),
  fld('PSDT', 0, 15, 14, 'CDW0 PRP or SGL (0: PRPs)'),
  fld('CID', 0, 31, 16, 'CDW0 command identifier'),
  fld('NSID', 0, 63, 32, 'namespace identifier'),
  fld('MPTR', 2, 63, 0, 'metadata pointer'),
  fld('PRP1', 3, 63, 0, 'DPTR PRP entry 1: device address of the data'),
  fld('PRP2', 4, 63, 0, 'DPTR PRP entry 2'),
  fld('SLBA', 5, 63, 0, 'CDW10-11 starting LBA'),
  fld('NLB', 6, 15, 0, 'CDW12 number of logical blocks, 0-based'),
]);

/** NVMe Generic Command Status values (SCT 0). */
export const NVME_SC = { SUCCESS: 0x00, DATA_TRANSFER_ERROR: 0x04, INTERNAL_ERROR: 0x06 } as const;

/** NVMe Completion Queue Entry, 16 bytes (NVM Express Base 2.0, Completion Queue Entry: DW2 SQHD/SQID, DW3 CID/P/Status). */
export const NVME_CQE = structure('nvme-cqe', 16, 'NVMe Base 2.0 CQE', 'NVMe completion queue entry', [
  fld('DW0', 0, 31, 0, 'command specific'),
  fld('SQHD', 1, 15, 0, 'DW2 submission queue head pointer'),
  fld('SQID', 1, 31, 16, 'DW2 submission queue identifier'),
  fld('CID', 1, 47, 32, 'DW3 command identifier'),
  bit('P', 1, 48, 'DW3 phase tag'),
  fld('SC', 1, 56, 49, 'DW3 status code'),
  fld('SCT', 1, 59, 57, 'DW3 status code type'),
  bit('DNR', 1, 63, 'DW3 do not retry'),
]);

/** A copy-engine job descriptor, 32 bytes (twin GPU/accelerator DMA engine). */
export const COPY_JOB = structure('copy-job', 32, 'twin copy engine', 'GPU/accelerator bulk-copy job: source, destination, length, completion fence', [
  fld('Src', 0, 63, 0, 'device address of the source'),
  fld('Dst', 1, 63, 0, 'device address of the destination'),
  fld('Length', 2, 31, 0, 'bytes to copy'),
  fld('JobId', 2, 63, 32, 'host job number'),
  fld('Fence', 3, 63, 0, 'device address of the 8-byte completion fence'),
]);

/** Decodes `bytes` at `offset` as one `layout` entry. */
export function readEntry(layout: Layout, bytes: Uint8Array, offset = 0): bigint[] {
  return dwordsFromBytes(bytes, offset, layout.words);
}

/** Encodes field values of `layout` into bytes. */
export function entryBytes(layout: Layout, values: Record<string, number | bigint>): Uint8Array {
  const words = layout.zero();
  for (const [k, v] of Object.entries(values)) layout.deposit(words, k, BigInt(v));
  return dwordsToBytes(words);
}

/** A field of a decoded entry as a number (exact below 2^53). */
export function num(layout: Layout, words: readonly bigint[], field: string): number {
  return Number(layout.get(words, field));
}
