// SPDX-License-Identifier: Apache-2.0
// Catalogue, part 5: S13 (a latched CMDQ_ERR) and S21 (SFM after the adoption), whose CMD_SYNC
// timeouts keep the devices running for seconds of virtual time (see catalogue-d).
import { catalogueTests } from '../testing/catalogue';

catalogueTests((e) => /^S(13|21)-/.test(e.id));
