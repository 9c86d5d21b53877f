// SPDX-License-Identifier: Apache-2.0
// Catalogue, part 3: the code-path scenarios S11..S22 of kdump-adopt-series.md section 4, but
// for the Service Failure Mode and latched-error ones (catalogue-d, -e), whose CMD_SYNC timeouts
// keep the devices running for seconds of virtual time.
import { catalogueTests } from '../testing/catalogue';

catalogueTests((e) => /^S(1[1-9]|2[0-2])-/.test(e.id) && !/^S(12|13|21)-/.test(e.id));
