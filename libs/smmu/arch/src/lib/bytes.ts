// SPDX-License-Identifier: Apache-2.0
// Structures and queue entries live in memory as little-endian 64-bit dwords (notes section 0;
// only translation tables follow an ENDI bit).

/** Reads `count` little-endian dwords from `bytes` at byte `offset`. */
export function dwordsFromBytes(bytes: Uint8Array, offset: number, count: number): bigint[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) out.push(view.getBigUint64(offset + i * 8, true));
  return out;
}

/** Serialises dwords little-endian. */
export function dwordsToBytes(words: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, w), true));
  return out;
}
