// SPDX-License-Identifier: Apache-2.0
/**
 * POW2[n] = 2^n for n = 0..64: hot paths (walks, TLB keys) index this instead of computing
 * `2 ** n` with a variable n, which V8 compiles to a call to pow().
 */
export const POW2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** n);
