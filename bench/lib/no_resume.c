/* bench/lib/no_resume.c: an LD_PRELOAD for wrk that makes every TLS connection do a full
 * handshake (run.sh builds it with `cc -shared -fPIC` for its "full handshakes" cases).
 *
 * wrk keeps one SSL object per connection and, when it reconnects, SSL_clear()s it; OpenSSL
 * then keeps the last session, so the next handshake offers it and the server resumes it
 * (openssl s_server -www counted 1897 resumptions in 1899 handshakes under
 * `wrk -c1 -H 'Connection: close'`). Dropping the session when the object gets its new
 * socket makes wrk offer none (0 of 1437 resumed). wrk calls SSL_set_fd before each
 * SSL_connect, and again on each retry of a handshake under way: only a handshake that has
 * not started may lose its session (dropping it mid-handshake crashes wrk).
 * OpenSSL's headers are not needed (libssl-dev may be absent): two opaque types suffice. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL *s, SSL_SESSION *session);
int SSL_in_before(const SSL *s);

int SSL_set_fd(SSL *s, int fd) {
    static int (*real)(SSL *, int);
    if (!real) real = (int (*)(SSL *, int))dlsym(RTLD_NEXT, "SSL_set_fd");
    if (SSL_in_before(s)) SSL_set_session(s, NULL);
    return real(s, fd);
}
