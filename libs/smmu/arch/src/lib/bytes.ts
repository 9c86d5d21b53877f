// SPDX-License-Identifier: Apache-2.0
// Structures live in memory as little-endian 64-bit dwords (IHI0070 3.x: SMMU structures and
// queue entries are little-endian unless an ENDI bit says otherwise for translation tables).

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
