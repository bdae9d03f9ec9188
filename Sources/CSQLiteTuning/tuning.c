// sqlite3_db_config is variadic, and Swift cannot call a C variadic function: this file is
// the one fixed-argument wrapper the audit store needs, nothing more.
#include <sqlite3.h>
#include "csqlitetuning.h"

int warden_sqlite_no_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}
