#include <netdb.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>

/* res_query for a class-IN question; the answer's wire bytes go to buf. */
static inline int pbxsim_res_query(const char *name, int type, unsigned char *buf, int len) {
    return res_query(name, C_IN, type, buf, len);
}

/* h_errno is a macro over a thread-local: Swift cannot read it directly. */
static inline int pbxsim_h_errno(void) { return h_errno; }
