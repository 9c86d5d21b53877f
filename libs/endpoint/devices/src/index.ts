// SPDX-License-Identifier: Apache-2.0
export * from './lib/types';
export * from './lib/formats';
export * from './lib/endpoint';
export * from './lib/nic';
export * from './lib/nvme';
export * from './lib/copy';
export * from './lib/host';
export * from './lib/ras';
export * from './lib/fleet';
export * from './lib/coupler';
export * from './lib/device-dmi';
export * from './lib/passable';
