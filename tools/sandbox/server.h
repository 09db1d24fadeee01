/* The HTTP side of the sandbox, on libmicrohttpd: a thread pool with epoll,
 * keep-alive, request bodies collected per connection, one dispatch per
 * request, and the fault kinds that act on the connection itself (slow
 * answers via suspend/resume, resets, answers dropped after applying). */
#ifndef SBX_SERVER_H
#define SBX_SERVER_H

#include "sandbox.h"

typedef struct sbx_server sbx_server;

/* Binds cfg.listen_addr:cfg.port and starts serving. The bound port into
 * *port. NULL with a message on stderr on failure. */
sbx_server *sbx_server_start(sbx *s, int *port);

/* Stops accepting, answers the delayed (slow) requests at once, closes every
 * connection and frees the server. */
void sbx_server_stop(sbx_server *srv);

#endif
