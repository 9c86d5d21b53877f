// SPDX-License-Identifier: Apache-2.0
// Generated contract types, one namespace per proto package (twin.<area>.v<N> -> <area>V<N>).
export * as archV1 from './gen/twin/arch/v1/arch';
