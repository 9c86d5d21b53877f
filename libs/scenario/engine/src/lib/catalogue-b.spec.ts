// SPDX-License-Identifier: Apache-2.0
// Catalogue, part 2: R10 (S10a..S10l and the M3 panic points) of kdump-adopt-series.md section 4.
import { catalogueTests } from '../testing/catalogue';

catalogueTests((e) => /^(S10[a-z]|R10)-/.test(e.id));
