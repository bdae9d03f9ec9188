#ifndef CSQLITETUNING_H
#define CSQLITETUNING_H

/// Turns off SQLite's checkpoint when the last connection to a WAL database closes, so a
/// runner's exit costs no fsync; the next opener (off the launch path) checkpoints instead.
/// Returns an SQLite result code.
typedef struct sqlite3 sqlite3;
int warden_sqlite_no_checkpoint_on_close(sqlite3 *db);

#endif
