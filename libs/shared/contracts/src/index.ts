// SPDX-License-Identifier: Apache-2.0
// Generated contract types, one namespace per proto package (twin.<area>.v<N> -> <area>V<N>).
export * as archV1 from './gen/twin/arch/v1/arch';
export * as smmuV1 from './gen/twin/smmu/v1/smmu';
export * as scenarioV1 from './gen/twin/scenario/v1/scenario';
export * as fleetV1 from './gen/twin/fleet/v1/fleet';
export * as kernelV1 from './gen/twin/kernel/v1/kernel';
export * as kdumpV1 from './gen/twin/kdump/v1/kdump';
