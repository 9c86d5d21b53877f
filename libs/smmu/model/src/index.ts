// SPDX-License-Identifier: Apache-2.0
export * from './lib/config';
export * from './lib/types';
export * from './lib/cache';
export * from './lib/walker';
export * from './lib/structures';
export * from './lib/smmu';
export * from './lib/system';
export * from './lib/machine';
