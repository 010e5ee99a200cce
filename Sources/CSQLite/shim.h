#include <sqlite3.h>
// SQLITE_TRANSIENT is a macro around a cast of -1 and is not imported into Swift.
static inline sqlite3_destructor_type pbxsim_sqlite_transient(void) { return SQLITE_TRANSIENT; }
static inline sqlite3_destructor_type pbxsim_sqlite_static(void) { return SQLITE_STATIC; }
