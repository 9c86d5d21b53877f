// SPDX-License-Identifier: Apache-2.0
export * from './lib/registry.generated';
export * from './lib/errors';
export * from './lib/setup';
export * from './lib/ids';
export * from './lib/sampling';
export * from './lib/timeline';
export * from './lib/dma';
export * from './lib/calls';
export * from './lib/run';
export * from './lib/kernel';
export * from './lib/metrics';
export * from './lib/propagation';
export * from './lib/fleet';
