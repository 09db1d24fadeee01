/* Logging through the caller's callback, with redaction: known secrets (the
 * client's keys and every token it obtains) and secret-looking patterns
 * (Authorization values, Signature=, tokens in JSON or forms) are replaced
 * by "[redacted]" before the callback sees a line. */
#ifndef MTR_LOG_H
#define MTR_LOG_H

#include "buf.h"
#include "meter/client.h"
#include "sync.h"

#define MTR_LOG_MAX_SECRETS 32

typedef struct mtr_logger {
  meter_log_fn fn;
  void *payload;
  int level;
  mtr_mutex lock;
  char *secrets[MTR_LOG_MAX_SECRETS];
  size_t next_secret;
} mtr_logger;

void mtr_logger_init(mtr_logger *lg, meter_log_fn fn, void *payload, int level);
void mtr_logger_dispose(mtr_logger *lg);

/* Remembers a secret (copied) so it is scrubbed from every later line.
 * Short strings (< 4 bytes) are ignored: they would mangle ordinary text. */
void mtr_logger_add_secret(mtr_logger *lg, const char *secret);

int mtr_log_enabled(const mtr_logger *lg, int level);
void mtr_log(mtr_logger *lg, int level, const char *fmt, ...) MTR_PRINTF(3, 4);

/* Replaces every known secret in a NUL-terminated string by "[redacted]",
 * for marketplace text that reaches errors and results (a marketplace may
 * echo what it was sent). In place in a buffer of `size` bytes, or a heap
 * string (core/alloc.h) replaced by a scrubbed copy. 1 if something was
 * replaced, 0 if not; on allocation failure the text is emptied. */
int mtr_logger_scrub(mtr_logger *lg, char *text, size_t size);
int mtr_logger_scrub_str(mtr_logger *lg, char **text);

/* Writes `in` with secret patterns redacted into out. Exposed for tests and
 * for the CLI, which prints server answers. */
int mtr_redact(const char *in, mtr_buf *out);

#define MTR_ERROR(lg, ...) mtr_log((lg), METER_LOG_ERROR, __VA_ARGS__)
#define MTR_WARN(lg, ...) mtr_log((lg), METER_LOG_WARN, __VA_ARGS__)
#define MTR_INFO(lg, ...) mtr_log((lg), METER_LOG_INFO, __VA_ARGS__)
#define MTR_DEBUG(lg, ...) mtr_log((lg), METER_LOG_DEBUG, __VA_ARGS__)

#endif
