// SPDX-License-Identifier: Apache-2.0
export * from './lib/clock';
export * from './lib/rng';
export * from './lib/memory';
export * from './lib/platform';
export * from './lib/sequencer';
export * from './lib/dmi-pages';
export * from './lib/poll-step';
