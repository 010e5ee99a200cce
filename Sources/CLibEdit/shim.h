#include <stdio.h>
#include <editline/readline.h>
// Mutable C globals cannot be touched from Swift 6: wrap them.
static inline void pbxsim_set_readline_name(const char *name) { rl_readline_name = (char *)name; }
static inline void pbxsim_set_completion_function(rl_completion_func_t *fn) { rl_attempted_completion_function = fn; }
static inline void pbxsim_set_completion_append(int c) { rl_completion_append_character = c; }
static inline int pbxsim_history_length(void) { return history_length; }
static inline void pbxsim_stifle_history(int n) { stifle_history(n); }
static inline const char *pbxsim_line_buffer(void) { return rl_line_buffer; }
// stdout is a mutable C global Swift 6 cannot touch: make it line-buffered here.
static inline void pbxsim_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
