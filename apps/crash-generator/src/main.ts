// SPDX-License-Identifier: Apache-2.0
// crash-generator: the primary kernel of every run (KernelHost 'primary', on NATS: sessions
// taken from the crash-generator queue group), and twin.kernel.v1 for scripts.
import { serviceMain } from '@kdump-twin/service';
import { CRASH_GENERATOR } from './service';

serviceMain(CRASH_GENERATOR);
