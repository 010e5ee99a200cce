#include <sqlite3.h>
// SQLITE_TRANSIENT is a macro around a cast of -1 and is not imported into Swift.
static inline sqlite3_destructor_type pbxsim_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type pbxsim_sqlite_static(void) { return SQLITE_STATIC; }
// Counts the virtual-machine instructions a connection runs, in units of `every` (a measure of
// the work its statements do, independent of the machine's speed); a null counter stops it.
static inline int pbxsim_sqlite_count_progress(void *counter) { ++*(long long *)counter; return 0; }
static inline void pbxsim_sqlite_count_work(sqlite3 *db, int every, long long *counter) {
    sqlite3_progress_handler(db, every, counter ? pbxsim_sqlite_count_progress : 0, counter);
}
