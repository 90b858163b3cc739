// Defines the row table of group_row.h, among the tables whose first page
// every process touches (MG_TABLE_HOT).
#include "engine/group_row.h"

namespace memgroup::internal::engine {

MG_TABLE_HOT constinit GroupRow g_group_rows[kMaxGroups];

}  // namespace memgroup::internal::engine
