// SPDX-License-Identifier: Apache-2.0
// kdump-driver: the kdump kernel of every run (KernelHost 'kdump', on NATS: sessions taken
// from the kdump-driver queue group at kexec), and twin.kdump.v1 for scripts.
import { serviceMain } from '@kdump-twin/service';
import { KDUMP_DRIVER } from './service';

serviceMain(KDUMP_DRIVER);
