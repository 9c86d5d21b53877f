// SPDX-License-Identifier: Apache-2.0
export * from './lib/bus';
export * from './lib/log';
export * from './lib/trace';
export * from './lib/hw';
export * from './lib/features';
export * from './lib/entry';
export * from './lib/pgtable';
export * from './lib/device';
export * from './lib/domain';
export * from './lib/kernel';
export * from './lib/machine';
export * from './lib/steps';
export * from './lib/timers';
