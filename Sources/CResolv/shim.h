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

#include <string.h>
#include <arpa/inet.h>

/* res_query against one given IPv4 DNS server (`--dns-server`): a private resolver state whose
   only name server is server:port; everything else as /etc/resolv.conf says. */
static inline int pbxsim_res_query_at(const char *server, int port, const char *name, int type,
                                      unsigned char *buf, int len) {
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st) != 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, server, &a.sin_addr) != 1) { res_nclose(&st); return -1; }
    st.nsaddr_list[0] = a;
    st.nscount = 1;
    st.retry = 2;
    st.retrans = 2;
    int n = res_nquery(&st, name, C_IN, type, buf, len);
    res_nclose(&st);
    return n;
}
