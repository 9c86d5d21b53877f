// SPDX-License-Identifier: Apache-2.0
export * from './lib/config';
export * from './lib/logger';
export * from './lib/errors';
export * from './lib/bootstrap';
