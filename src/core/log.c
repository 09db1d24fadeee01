#include "log.h"

#include "alloc.h"
#include "str.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char REDACTED[] = "[redacted]";

void mtr_logger_init(mtr_logger *lg, meter_log_fn fn, void *payload, int level)
{
  memset(lg, 0, sizeof *lg);
  lg->fn = fn;
  lg->payload = payload;
  lg->level = level > 0 ? level : METER_LOG_INFO;
  mtr_mutex_init(&lg->lock);
}

void mtr_logger_dispose(mtr_logger *lg)
{
  for (size_t i = 0; i < MTR_LOG_MAX_SECRETS; i++)
    mtr_free_secret_str(lg->secrets[i]);
  mtr_mutex_destroy(&lg->lock);
}

void mtr_logger_add_secret(mtr_logger *lg, const char *secret)
{
  if (!secret || strlen(secret) < 4)
    return;
  mtr_mutex_lock(&lg->lock);
  for (size_t i = 0; i < MTR_LOG_MAX_SECRETS; i++) {
    if (lg->secrets[i] && strcmp(lg->secrets[i], secret) == 0) {
      mtr_mutex_unlock(&lg->lock);
      return;
    }
  }
  char *copy = mtr_strdup(secret);
  if (copy) {
    size_t slot = lg->next_secret++ % MTR_LOG_MAX_SECRETS;
    mtr_free_secret_str(lg->secrets[slot]);
    lg->secrets[slot] = copy;
  }
  mtr_mutex_unlock(&lg->lock);
}

int mtr_log_enabled(const mtr_logger *lg, int level)
{
  return lg && lg->fn && level <= lg->level;
}

/* Names after which the next value is a secret. Matched case-insensitively;
 * the value starts after any of ` :="'` and runs to a delimiter. */
static const char *const secret_keys[] = {
  "authorization", "bearer ", "basic ", "signature=", "x-amz-security-token",
  "x-aws-ec2-metadata-token", "access_token", "client_secret", "secret_access_key",
  "secretaccesskey", "aws_session_token", "sessiontoken", "\"token\"", "password",
  "refresh_token", "id_token", "registrationtoken",
};

static size_t match_key(const char *p)
{
  const int first = tolower((unsigned char)*p);
  for (size_t k = 0; k < sizeof secret_keys / sizeof secret_keys[0]; k++) {
    if (secret_keys[k][0] != first) /* keys are lower case: skip most compares */
      continue;
    size_t n = strlen(secret_keys[k]);
    if (strncasecmp(p, secret_keys[k], n) == 0)
      return n;
  }
  return 0;
}

int mtr_redact(const char *in, mtr_buf *out)
{
  const char *p = in;
  while (*p) {
    size_t klen = match_key(p);
    if (!klen) {
      mtr_buf_putc(out, *p++);
      continue;
    }
    mtr_buf_put(out, p, klen);
    p += klen;
    while (*p == ' ' || *p == ':' || *p == '=' || *p == '"' || *p == '\'') {
      mtr_buf_putc(out, *p++);
    }
    /* "Authorization: Bearer xyz" — keep the scheme word, hide the value. */
    if (strncasecmp(p, "bearer ", 7) == 0 || strncasecmp(p, "basic ", 6) == 0 ||
        strncasecmp(p, "aws4-hmac-sha256 ", 17) == 0) {
      const char *sp = strchr(p, ' ');
      mtr_buf_put(out, p, (size_t)(sp - p + 1));
      p = sp + 1;
    }
    const char *v = p;
    while (*p && !isspace((unsigned char)*p) && *p != '"' && *p != '\'' && *p != ',' &&
           *p != '&' && *p != ';' && *p != '}')
      p++;
    if (p > v)
      mtr_buf_puts(out, REDACTED);
  }
  return mtr_buf_status(out);
}

static void scrub_known(mtr_logger *lg, mtr_buf *line)
{
  for (size_t i = 0; i < MTR_LOG_MAX_SECRETS; i++) {
    const char *s = lg->secrets[i];
    if (!s)
      continue;
    size_t n = strlen(s);
    char *hit;
    while (line->ptr && (hit = strstr(line->ptr, s)) != NULL) {
      mtr_buf rebuilt = MTR_BUF_INIT;
      mtr_buf_put(&rebuilt, line->ptr, (size_t)(hit - line->ptr));
      mtr_buf_puts(&rebuilt, REDACTED);
      mtr_buf_puts(&rebuilt, hit + n);
      if (mtr_buf_status(&rebuilt)) {
        mtr_buf_dispose(&rebuilt);
        mtr_buf_clear(line); /* cannot scrub: say nothing rather than leak */
        return;
      }
      mtr_buf_dispose_secret(line);
      *line = rebuilt;
    }
  }
}

static int has_known(mtr_logger *lg, const char *text)
{
  for (size_t i = 0; i < MTR_LOG_MAX_SECRETS; i++)
    if (lg->secrets[i] && strstr(text, lg->secrets[i]))
      return 1;
  return 0;
}

/* Scrubs text into a new buffer; 0 if nothing to scrub. Called locked. */
static int scrubbed(mtr_logger *lg, const char *text, mtr_buf *out)
{
  if (!text || !has_known(lg, text))
    return 0;
  mtr_buf_puts(out, text);
  scrub_known(lg, out);
  return 1;
}

int mtr_logger_scrub(mtr_logger *lg, char *text, size_t size)
{
  if (!lg || !text || !size)
    return 0;
  mtr_buf b = MTR_BUF_INIT;
  mtr_mutex_lock(&lg->lock);
  int hit = scrubbed(lg, text, &b);
  mtr_mutex_unlock(&lg->lock);
  if (hit) {
    mtr_strlcpy(text, mtr_buf_status(&b) ? "" : mtr_buf_cstr(&b), size);
    mtr_buf_dispose_secret(&b);
  }
  return hit;
}

int mtr_logger_scrub_str(mtr_logger *lg, char **text)
{
  if (!lg || !text || !*text)
    return 0;
  mtr_buf b = MTR_BUF_INIT;
  mtr_mutex_lock(&lg->lock);
  int hit = scrubbed(lg, *text, &b);
  mtr_mutex_unlock(&lg->lock);
  if (hit) {
    char *copy = mtr_buf_status(&b) ? NULL : mtr_strdup(mtr_buf_cstr(&b));
    mtr_free_secret_str(*text);
    *text = copy ? copy : mtr_strdup("");
    mtr_buf_dispose_secret(&b);
  }
  return hit;
}

void mtr_log(mtr_logger *lg, int level, const char *fmt, ...)
{
  if (!mtr_log_enabled(lg, level))
    return;
  char raw[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  /* One line per callback: fold newlines so a server body cannot forge lines. */
  for (char *c = raw; *c; c++)
    if (*c == '\n' || *c == '\r' || (unsigned char)*c < 0x20)
      *c = ' ';

  mtr_buf line = MTR_BUF_INIT;
  mtr_redact(raw, &line);
  mtr_mutex_lock(&lg->lock);
  scrub_known(lg, &line);
  mtr_mutex_unlock(&lg->lock);
  if (!mtr_buf_status(&line) && line.len)
    lg->fn((meter_log_level)level, line.ptr, lg->payload);
  mtr_buf_dispose_secret(&line);
}
