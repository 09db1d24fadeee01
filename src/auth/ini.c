#include "ini.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/str.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct ini_entry {
  char *section;
  char *key;    /* NULL: a section header with no keys yet */
  char *value;
} ini_entry;

struct mtr_ini {
  ini_entry *items;
  size_t count, cap;
};

static int push(mtr_ini *ini, const char *section, const char *key, size_t klen,
                const char *value, size_t vlen)
{
  if (ini->count == ini->cap) {
    size_t cap = ini->cap ? ini->cap * 2 : 16;
    ini_entry *items = mtr_realloc(ini->items, cap * sizeof *items);
    if (!items)
      return METER_ENOMEM;
    ini->items = items;
    ini->cap = cap;
  }
  ini_entry *e = &ini->items[ini->count];
  e->section = mtr_strdup(section);
  e->key = key ? mtr_strndup(key, klen) : NULL;
  e->value = value ? mtr_strndup(value, vlen) : NULL;
  if (!e->section || (key && !e->key) || (value && !e->value)) {
    mtr_free(e->section);
    mtr_free(e->key);
    mtr_free_secret_str(e->value);
    return METER_ENOMEM;
  }
  ini->count++;
  return METER_OK;
}

static void trim_span(const char **s, size_t *n)
{
  while (*n && isspace((unsigned char)**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n && isspace((unsigned char)(*s)[*n - 1]))
    (*n)--;
}

int mtr_ini_parse(mtr_ini **out, const char *text, size_t len)
{
  *out = NULL;
  mtr_ini *ini = mtr_calloc(1, sizeof *ini);
  if (!ini)
    return METER_ENOMEM;
  char *section = NULL;
  int rc = METER_OK;
  for (size_t i = 0; i < len && rc == METER_OK;) {
    const char *line = text + i;
    const char *nl = memchr(line, '\n', len - i);
    size_t n = nl ? (size_t)(nl - line) : len - i;
    i += n + 1;
    int indented = n && (line[0] == ' ' || line[0] == '\t');
    trim_span(&line, &n);
    if (n == 0 || line[0] == '#' || line[0] == ';')
      continue;
    if (line[0] == '[') {
      const char *close = memchr(line, ']', n);
      if (!close)
        continue;
      const char *name = line + 1;
      size_t nn = (size_t)(close - name);
      trim_span(&name, &nn);
      char *s = mtr_strndup(name, nn);
      if (!s) {
        rc = METER_ENOMEM;
        break;
      }
      mtr_free(section);
      section = s;
      rc = push(ini, section, NULL, 0, NULL, 0);
      continue;
    }
    if (!section || indented)
      continue; /* keys outside a section; sub-properties of a nested key */
    const char *eq = memchr(line, '=', n);
    if (!eq)
      continue;
    const char *key = line;
    size_t klen = (size_t)(eq - line);
    trim_span(&key, &klen);
    const char *val = eq + 1;
    size_t vlen = (size_t)(line + n - val);
    /* An inline comment starts at whitespace followed by '#' or ';'. */
    for (size_t k = 1; k < vlen; k++)
      if ((val[k] == '#' || val[k] == ';') && isspace((unsigned char)val[k - 1])) {
        vlen = k;
        break;
      }
    trim_span(&val, &vlen);
    if (klen == 0)
      continue;
    rc = push(ini, section, key, klen, val, vlen);
  }
  mtr_free(section);
  if (rc != METER_OK) {
    mtr_ini_free(ini);
    return rc;
  }
  *out = ini;
  return METER_OK;
}

int mtr_ini_load(mtr_ini **out, const char *path, meter_error *err)
{
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT || errno == ENOTDIR)
      return mtr_error_set(err, METER_ENOTFOUND, "%.200s does not exist", path);
    return mtr_error_set(err, METER_ECONFIG, "cannot open %.200s: %s", path, strerror(errno));
  }
  mtr_buf b = MTR_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    mtr_buf_put(&b, chunk, n);
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    mtr_buf_dispose_secret(&b);
    return mtr_error_set(err, METER_ECONFIG, "cannot read %.200s", path);
  }
  if (mtr_buf_status(&b)) {
    mtr_buf_dispose_secret(&b);
    return mtr_error_set(err, METER_ENOMEM, "out of memory");
  }
  int rc = mtr_ini_parse(out, b.ptr ? b.ptr : "", b.len);
  mtr_buf_dispose_secret(&b);
  memset(chunk, 0, sizeof chunk);
  if (rc != METER_OK)
    return mtr_error_set(err, rc, "out of memory");
  return METER_OK;
}

const char *mtr_ini_get(const mtr_ini *ini, const char *section, const char *key)
{
  if (!ini)
    return NULL;
  const char *found = NULL;
  /* A later duplicate wins, as in botocore. */
  for (size_t i = 0; i < ini->count; i++)
    if (ini->items[i].key && strcmp(ini->items[i].section, section) == 0 &&
        mtr_streq_nocase(ini->items[i].key, key))
      found = ini->items[i].value;
  return found;
}

int mtr_ini_has_section(const mtr_ini *ini, const char *section)
{
  if (!ini)
    return 0;
  for (size_t i = 0; i < ini->count; i++)
    if (strcmp(ini->items[i].section, section) == 0)
      return 1;
  return 0;
}

void mtr_ini_free(mtr_ini *ini)
{
  if (!ini)
    return;
  for (size_t i = 0; i < ini->count; i++) {
    mtr_free(ini->items[i].section);
    mtr_free(ini->items[i].key);
    mtr_free_secret_str(ini->items[i].value);
  }
  mtr_free(ini->items);
  mtr_free(ini);
}
