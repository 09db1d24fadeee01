#include "server.h"

#include "core/alloc.h"
#include "core/str.h"
#include "core/sync.h"
#include "core/timefmt.h"
#include "faults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ---- delayed answers (fault kind "slow") ------------------------------------
 * The connection is suspended (its thread keeps serving others) and a timer
 * thread resumes it when the delay has passed; MHD then calls the handler
 * again and the prepared answer is queued. */

typedef struct delayed {
  struct MHD_Connection *conn;
  int64_t due_us;                /* CLOCK_MONOTONIC */
} delayed;

struct sbx_server {
  sbx *s;
  struct MHD_Daemon *daemon;
  pthread_t timer;
  int timer_started;
  mtr_mutex lock;
  pthread_cond_t cond;
  delayed *items;
  size_t count, cap;
  int stopping;
};

static int64_t mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *timer_main(void *arg)
{
  sbx_server *srv = arg;
  mtr_mutex_lock(&srv->lock);
  for (;;) {
    int64_t now = mono_us(), next = INT64_MAX;
    for (size_t i = 0; i < srv->count;) {
      if (srv->stopping || srv->items[i].due_us <= now) {
        MHD_resume_connection(srv->items[i].conn);
        srv->items[i] = srv->items[--srv->count];
      } else {
        if (srv->items[i].due_us < next)
          next = srv->items[i].due_us;
        i++;
      }
    }
    if (srv->stopping)
      break;
    if (next == INT64_MAX) {
      pthread_cond_wait(&srv->cond, &srv->lock);
    } else {
      struct timespec ts = { (time_t)(next / 1000000), (long)(next % 1000000) * 1000 };
      pthread_cond_timedwait(&srv->cond, &srv->lock, &ts);
    }
  }
  mtr_mutex_unlock(&srv->lock);
  return NULL;
}

/* Suspends conn and schedules its resumption; 0 if the server is stopping
 * (answer at once then). */
static int delay_answer(sbx_server *srv, struct MHD_Connection *conn, long delay_ms)
{
  mtr_mutex_lock(&srv->lock);
  if (srv->stopping || (srv->count == srv->cap && srv->cap > 100000)) {
    mtr_mutex_unlock(&srv->lock);
    return 0;
  }
  if (srv->count == srv->cap) {
    size_t nc = srv->cap ? srv->cap * 2 : 16;
    delayed *ni = mtr_realloc(srv->items, nc * sizeof *ni);
    if (!ni) {
      mtr_mutex_unlock(&srv->lock);
      return 0;
    }
    srv->items = ni;
    srv->cap = nc;
  }
  MHD_suspend_connection(conn);
  srv->items[srv->count].conn = conn;
  srv->items[srv->count].due_us = mono_us() + (int64_t)delay_ms * 1000;
  srv->count++;
  pthread_cond_signal(&srv->cond);
  mtr_mutex_unlock(&srv->lock);
  return 1;
}

/* ---- per-request state ----------------------------------------------------- */

typedef struct conn_state {
  sbx_server *srv;
  char *raw_uri;
  mtr_buf body;
  int started;
  int too_large;
  sbx_route route;
  int faulted;
  sbx_fault_hit fault;
  struct MHD_Response *pending;  /* answer held back by a slow fault */
  unsigned pending_status;
} conn_state;

static conn_state *state_new(sbx_server *srv, const char *uri)
{
  conn_state *cs = mtr_calloc(1, sizeof *cs);
  if (!cs)
    return NULL;
  cs->srv = srv;
  cs->raw_uri = mtr_strdup(uri ? uri : "");
  return cs;
}

static void state_free(conn_state *cs)
{
  if (!cs)
    return;
  if (cs->pending)
    MHD_destroy_response(cs->pending);
  mtr_buf_dispose(&cs->body);
  mtr_free(cs->raw_uri);
  mtr_free(cs);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the only place the raw request target (path
 * and query exactly as sent, needed for SigV4) is available. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
  (void)conn;
  return state_new(cls, uri);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)conn;
  (void)toe;
  state_free(*con_cls);
  *con_cls = NULL;
}

/* ---- request accessors (sandbox.h) ---------------------------------------- */

const char *sbx_header(const sbx_request *r, const char *name)
{
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *sbx_query(const sbx_request *r, const char *name)
{
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct query_all_ctx {
  const char *name;
  const char **out;
  size_t max, n;
} query_all_ctx;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
  (void)kind;
  query_all_ctx *q = cls;
  if (strcmp(key, q->name) == 0) {
    if (q->n < q->max)
      q->out[q->n] = value ? value : "";
    q->n++;
  }
  return MHD_YES;
}

size_t sbx_query_all(const sbx_request *r, const char *name, const char **out, size_t max)
{
  query_all_ctx q = { name, out, max, 0 };
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
  return q.n;
}

typedef struct query_each_ctx {
  int (*fn)(void *ud, const char *k, const char *v);
  void *ud;
} query_each_ctx;

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
  (void)kind;
  query_each_ctx *q = cls;
  return q->fn(q->ud, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void sbx_query_each(const sbx_request *r, int (*fn)(void *ud, const char *k, const char *v),
                    void *ud)
{
  query_each_ctx q = { fn, ud };
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, each_arg, &q);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
  (void)kind;
  mtr_headers_add(cls, key, value ? value : "");
  return MHD_YES;
}

int sbx_headers_collect(const sbx_request *r, mtr_headers *out)
{
  MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, out);
  return 0;
}

/* ---- answers ------------------------------------------------------------------ */

static void fault_answer(sbx *s, const conn_state *cs, sbx_response *resp)
{
  const sbx_fault_hit *f = &cs->fault;
  char ra[32] = "";
  if (f->kind == SBX_FAULT_THROTTLE && f->retry_after >= 0) {
    snprintf(ra, sizeof ra, "%ld", f->retry_after);
    mtr_headers_set(&resp->headers, "Retry-After", ra);
  }
  if (sbx_route_is_aws(cs->route)) {
    if (f->kind == SBX_FAULT_THROTTLE)
      sbx_aws_error(s, resp, 400, SBX_AWS_NS_METERING, "ThrottlingException", "Rate exceeded");
    else if (f->kind == SBX_FAULT_ERROR503)
      sbx_aws_error(s, resp, 503, SBX_AWS_NS_CORAL, "ServiceUnavailableException",
                    "Service is unavailable. Please retry.");
    else
      sbx_aws_error(s, resp, 500, SBX_AWS_NS_METERING, "InternalServiceErrorException",
                    "An internal error has occurred. Retry your request.");
    return;
  }
  unsigned st = f->kind == SBX_FAULT_THROTTLE ? 429 : f->kind == SBX_FAULT_ERROR503 ? 503 : 500;
  if (sbx_route_is_tackle(cs->route)) {
    sbx_tackle_error(resp, st,
                     st == 429 ? "too_many_requests" : st == 503 ? "service_unavailable"
                                                             : "internal_server_error",
                     st == 429 ? "Too many requests" : st == 503 ? "Service unavailable"
                                                             : "Internal server error",
                     "service_exception");
  } else {
    sbx_appdirect_error(resp, st,
                        st == 429 ? "TOO_MANY_REQUESTS" : st == 503 ? "SERVICE_UNAVAILABLE"
                                                                : "INTERNAL_ERROR",
                        st == 429 ? "Too many requests" : st == 503 ? "Service unavailable"
                                                                : "Internal server error");
  }
}

static void dispatch(sbx *s, const sbx_request *req, sbx_response *resp)
{
  if (sbx_route_is_tackle(req->route))
    sbx_tackle_handle(s, req, resp);
  else if (req->route >= SBX_APPDIRECT_TOKEN && req->route <= SBX_APPDIRECT_STATUS)
    sbx_appdirect_handle(s, req, resp);
  else if (sbx_route_is_aws(req->route))
    sbx_aws_handle(s, req, resp);
  else if (req->route == SBX_CONTROL)
    sbx_control_handle(s, req, resp);
  else {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", "not_found");
    char msg[300];
    mtr_fmt(msg, sizeof msg, "meter-sandbox has no route %s %s", req->method, req->path);
    cJSON_AddStringToObject(o, "message", msg);
    sbx_respond_json(resp, 404, o);
    cJSON_Delete(o);
  }
}

static void free_body(void *p)
{
  mtr_free(p);
}

static struct MHD_Response *to_mhd(sbx *s, sbx_response *resp)
{
  size_t len = resp->body.len;
  char *body = mtr_buf_detach(&resp->body);
  struct MHD_Response *r =
    body ? MHD_create_response_from_buffer_with_free_callback(len, body, free_body)
         : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!r) {
    mtr_free(body);
    return NULL;
  }
  char date[MTR_TIME_BUF];
  /* Our own Date (MHD's is suppressed): it reads the sandbox clock, so a
   * client correcting its clock skew from it sees the skew we simulate. */
  MHD_add_response_header(r, "Date", mtr_time_format(sbx_now(s), MTR_TIME_HTTP, date));
  if (resp->content_type && len)
    MHD_add_response_header(r, "Content-Type", resp->content_type);
  for (size_t i = 0; i < resp->headers.count; i++)
    MHD_add_response_header(r, resp->headers.items[i].name, resp->headers.items[i].value);
  return r;
}

/* Closes the connection with a TCP reset (SO_LINGER 0) instead of a FIN. */
static void arm_reset(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci =
    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) {
    struct linger lg = { 1, 0 };
    setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
  (void)version;
  sbx_server *srv = cls;
  sbx *s = srv->s;
  conn_state *cs = *con_cls;
  if (!cs) {
    cs = state_new(srv, url);
    if (!cs)
      return MHD_NO;
    *con_cls = cs;
  }

  if (cs->pending) { /* resumed after a slow fault's delay */
    enum MHD_Result ret = MHD_queue_response(conn, cs->pending_status, cs->pending);
    MHD_destroy_response(cs->pending);
    cs->pending = NULL;
    return ret;
  }

  if (!cs->started) { /* headers are in: route, and decide on faults now */
    cs->started = 1;
    cs->route = sbx_route_of(method, url,
                             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Target"));
    if (cs->route != SBX_CONTROL && cs->route != SBX_ROUTE_UNKNOWN)
      cs->faulted = sbx_faults_check(s->faults, cs->route, &cs->fault);
    if (cs->faulted && cs->fault.kind == SBX_FAULT_RESET) {
      if (s->cfg.verbose)
        sbx_log(s, "%s %s -> reset (fault %d)", method, cs->raw_uri, cs->fault.fault_id);
      arm_reset(conn);
      return MHD_NO;
    }
    return MHD_YES;
  }

  if (*upload_size) { /* a piece of the body */
    if (cs->body.len + *upload_size > s->cfg.max_body)
      cs->too_large = 1;
    else
      mtr_buf_put(&cs->body, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }

  /* The whole request is in. */
  sbx_response resp;
  sbx_response_init(&resp);
  sbx_request req = {
    .method = method,
    .path = url,
    .raw_uri = cs->raw_uri,
    .body = mtr_buf_cstr(&cs->body),
    .body_len = cs->body.len,
    .route = cs->route,
    .now_us = sbx_now(s),
    .fault = cs->faulted ? &cs->fault : NULL,
    .conn = conn,
  };
  int drop = 0;
  if (mtr_buf_status(&cs->body) != 0 || cs->too_large) {
    sbx_respond_text(&resp, 413, "application/json",
                     "{\"code\":\"payload_too_large\",\"message\":\"request body too large\"}");
  } else if (cs->faulted && (cs->fault.kind == SBX_FAULT_ERROR500 ||
                             cs->fault.kind == SBX_FAULT_ERROR503 ||
                             cs->fault.kind == SBX_FAULT_THROTTLE)) {
    fault_answer(s, cs, &resp);
  } else {
    dispatch(s, &req, &resp);
    drop = cs->faulted && cs->fault.kind == SBX_FAULT_DROP_AFTER_APPLY;
  }
  if (s->cfg.verbose)
    sbx_log(s, "%s %s -> %u%s%s", method, cs->raw_uri, resp.status,
            cs->faulted ? " fault " : "", cs->faulted ? sbx_fault_kind_name(cs->fault.kind) : "");
  if (drop) {
    /* Applied; now close without an answer (MHD_NO closes the socket). */
    sbx_response_dispose(&resp);
    return MHD_NO;
  }
  unsigned status = resp.status;
  struct MHD_Response *r = to_mhd(s, &resp);
  sbx_response_dispose(&resp);
  if (!r)
    return MHD_NO;
  if (cs->faulted && cs->fault.kind == SBX_FAULT_SLOW && cs->fault.delay_ms > 0) {
    cs->pending = r;
    cs->pending_status = status;
    if (delay_answer(srv, conn, cs->fault.delay_ms))
      return MHD_YES;
    cs->pending = NULL;
  }
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
  sbx_server *srv = cls;
  if (!srv->s->cfg.verbose)
    return;
  fputs("meter-sandbox: libmicrohttpd: ", stderr);
  /* MHD's own format strings */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  vfprintf(stderr, fmt, ap);
#pragma GCC diagnostic pop
}

sbx_server *sbx_server_start(sbx *s, int *port)
{
  sbx_server *srv = mtr_calloc(1, sizeof *srv);
  if (!srv)
    return NULL;
  srv->s = s;
  mtr_mutex_init(&srv->lock);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&srv->cond, &ca);
  pthread_condattr_destroy(&ca);

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, s->cfg.listen_addr, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)s->cfg.port);
  } else if (inet_pton(AF_INET6, s->cfg.listen_addr, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)s->cfg.port);
    flags |= MHD_USE_IPv6;
  } else {
    fprintf(stderr, "meter-sandbox: --listen: not an IP address: %s\n", s->cfg.listen_addr);
    sbx_server_stop(srv);
    return NULL;
  }

  if (pthread_create(&srv->timer, NULL, timer_main, srv) != 0) {
    sbx_server_stop(srv);
    return NULL;
  }
  srv->timer_started = 1;

  srv->daemon = MHD_start_daemon(
    flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, srv,
    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->cfg.threads,
    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)20000,
    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), /* malloc, not mmap, per connection */
    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
    MHD_OPTION_END);
  if (!srv->daemon) {
    fprintf(stderr, "meter-sandbox: cannot listen on %s:%d: %s\n", s->cfg.listen_addr,
            s->cfg.port, strerror(errno));
    sbx_server_stop(srv);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  *port = di ? di->port : s->cfg.port;
  return srv;
}

void sbx_server_stop(sbx_server *srv)
{
  if (!srv)
    return;
  if (srv->daemon)
    MHD_quiesce_daemon(srv->daemon);
  if (srv->timer_started) {
    /* Resume every delayed connection (it is answered at once), then stop. */
    mtr_mutex_lock(&srv->lock);
    srv->stopping = 1;
    pthread_cond_signal(&srv->cond);
    mtr_mutex_unlock(&srv->lock);
    pthread_join(srv->timer, NULL);
  }
  if (srv->daemon)
    MHD_stop_daemon(srv->daemon);
  pthread_cond_destroy(&srv->cond);
  mtr_mutex_destroy(&srv->lock);
  mtr_free(srv->items);
  mtr_free(srv);
}
