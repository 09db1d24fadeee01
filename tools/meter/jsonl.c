/* JSON lines for `meter batch`. The parser is small and strict (RFC 8259:
 * UTF-8 checked, no trailing commas, no duplicate keys) and keeps numbers as
 * written: cJSON and most parsers turn them into doubles, which is exactly
 * how 0.1 or 12345678901234567891 would be billed wrong. */
#include "jsonl.h"

#include "args.h"

#include <stdlib.h>
#include <string.h>

/* ---- reading lines ------------------------------------------------------ */

int line_next(line_reader *r, size_t *len)
{
  size_t n = 0;
  int c, too_long = 0, any = 0;
  while ((c = getc_unlocked(r->f)) != EOF) {
    any = 1;
    if (c == '\n')
      break;
    if (too_long)
      continue;
    if (n + 1 >= r->cap) {
      if (r->cap >= JSONL_MAX_LINE) {
        too_long = 1;
        continue;
      }
      size_t cap = r->cap ? r->cap * 2 : 4096;
      char *grown = realloc(r->buf, cap);
      if (!grown)
        return LINE_ERROR;
      r->buf = grown;
      r->cap = cap;
    }
    r->buf[n++] = (char)c;
  }
  if (!any)
    return ferror(r->f) ? LINE_ERROR : LINE_END;
  r->lineno++;
  if (too_long)
    return LINE_TOO_LONG;
  if (n && r->buf[n - 1] == '\r')
    n--;
  if (!r->buf) {
    if (!(r->buf = malloc(1)))
      return LINE_ERROR;
    r->cap = 1;
  }
  r->buf[n] = '\0';
  *len = n;
  return LINE_OK;
}

void line_reader_dispose(line_reader *r)
{
  free(r->buf);
  r->buf = NULL;
  r->cap = 0;
}

/* ---- a JSON value tree -------------------------------------------------- */

typedef enum { JV_NULL, JV_FALSE, JV_TRUE, JV_NUM, JV_STR, JV_ARR, JV_OBJ } jv_type;

typedef struct jv {
  jv_type type;
  char *str;            /* JV_STR: decoded (may hold NUL); JV_NUM: the text as written */
  size_t len;
  struct jv *items;     /* JV_ARR / JV_OBJ */
  char **keys;          /* JV_OBJ */
  size_t *klens;
  size_t count;
} jv;

typedef struct parser {
  const char *start, *p, *end;
  int depth;
  char err[160];
} parser;

static const char *const type_names[] = { "null", "false", "true", "a number", "a string",
                                          "an array", "an object" };

static void jv_free(jv *v)
{
  free(v->str);
  for (size_t i = 0; i < v->count; i++) {
    jv_free(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->klens);
  memset(v, 0, sizeof *v);
}

static int perr(parser *ps, const char *what)
{
  if (!ps->err[0])
    snprintf(ps->err, sizeof ps->err, "malformed JSON at column %ld: %s",
             (long)(ps->p - ps->start) + 1, what);
  return -1;
}

static void skip_ws(parser *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
    ps->p++;
}

static int hex4(const char *s, unsigned *out)
{
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
  unsigned c = s[0];
  size_t n;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; min = 0x10000; }
  else return 0;
  if ((size_t)(end - s) < n)
    return 0;
  unsigned cp = c & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

static int parse_string(parser *ps, char **out, size_t *outlen)
{
  ps->p++; /* opening quote */
  /* The decoded string is never longer than the encoded one. */
  const char *q = ps->p;
  while (q < ps->end && *q != '"') {
    if (*q == '\\' && q + 1 < ps->end)
      q++;
    q++;
  }
  if (q >= ps->end)
    return perr(ps, "unterminated string");
  char *buf = malloc((size_t)(q - ps->p) + 1);
  if (!buf)
    return perr(ps, "out of memory");
  size_t n = 0;
  while (*ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20) {
      free(buf);
      return perr(ps, "control character in a string (escape it)");
    }
    if (c == '\\') {
      char e = ps->p[1];
      ps->p += 2;
      switch (e) {
      case '"': buf[n++] = '"'; break;
      case '\\': buf[n++] = '\\'; break;
      case '/': buf[n++] = '/'; break;
      case 'b': buf[n++] = '\b'; break;
      case 'f': buf[n++] = '\f'; break;
      case 'n': buf[n++] = '\n'; break;
      case 'r': buf[n++] = '\r'; break;
      case 't': buf[n++] = '\t'; break;
      case 'u': {
        unsigned cp, lo;
        if (ps->end - ps->p < 4 || hex4(ps->p, &cp) != 0) {
          free(buf);
          return perr(ps, "bad \\u escape");
        }
        ps->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
              hex4(ps->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
            free(buf);
            return perr(ps, "unpaired surrogate in \\u escape");
          }
          ps->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          free(buf);
          return perr(ps, "unpaired surrogate in \\u escape");
        }
        n += put_utf8(buf + n, cp);
        break;
      }
      default:
        ps->p -= 2;
        free(buf);
        return perr(ps, "bad escape in a string");
      }
      continue;
    }
    size_t u = utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
    if (!u) {
      free(buf);
      return perr(ps, "invalid UTF-8 in a string");
    }
    memcpy(buf + n, ps->p, u);
    n += u;
    ps->p += u;
  }
  ps->p++; /* closing quote */
  buf[n] = '\0';
  *out = buf;
  *outlen = n;
  return 0;
}

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static int parse_number(parser *ps, jv *v)
{
  const char *s = ps->p;
  if (ps->p < ps->end && *ps->p == '-')
    ps->p++;
  if (ps->p >= ps->end || !is_digit(*ps->p))
    return perr(ps, "bad number");
  if (*ps->p == '0')
    ps->p++;
  else
    while (ps->p < ps->end && is_digit(*ps->p))
      ps->p++;
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    if (ps->p >= ps->end || !is_digit(*ps->p))
      return perr(ps, "bad number: digits must follow '.'");
    while (ps->p < ps->end && is_digit(*ps->p))
      ps->p++;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
      ps->p++;
    if (ps->p >= ps->end || !is_digit(*ps->p))
      return perr(ps, "bad number: digits must follow the exponent");
    while (ps->p < ps->end && is_digit(*ps->p))
      ps->p++;
  }
  v->type = JV_NUM;
  v->len = (size_t)(ps->p - s);
  if (!(v->str = strndup(s, v->len)))
    return perr(ps, "out of memory");
  return 0;
}

static int parse_value(parser *ps, jv *v);

static int parse_container(parser *ps, jv *v, int is_obj)
{
  if (++ps->depth > 16)
    return perr(ps, "nested too deeply");
  v->type = is_obj ? JV_OBJ : JV_ARR;
  ps->p++;
  size_t cap = 0;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
    ps->p++;
    ps->depth--;
    return 0;
  }
  for (;;) {
    if (v->count == cap) {
      cap = cap ? cap * 2 : 8;
      jv *items = realloc(v->items, cap * sizeof *items);
      if (!items)
        return perr(ps, "out of memory");
      v->items = items;
      if (is_obj) {
        char **keys = realloc(v->keys, cap * sizeof *keys);
        if (keys)
          v->keys = keys;
        size_t *klens = realloc(v->klens, cap * sizeof *klens);
        if (klens)
          v->klens = klens;
        if (!keys || !klens)
          return perr(ps, "out of memory");
      }
    }
    jv *item = &v->items[v->count];
    memset(item, 0, sizeof *item);
    skip_ws(ps);
    if (is_obj) {
      v->keys[v->count] = NULL;
      if (ps->p >= ps->end || *ps->p != '"')
        return perr(ps, "expected a key in double quotes");
      char *key;
      size_t klen;
      if (parse_string(ps, &key, &klen) != 0)
        return -1;
      v->keys[v->count] = key;
      v->klens[v->count] = klen;
      for (size_t k = 0; k < v->count; k++)
        if (v->klens[k] == klen && memcmp(v->keys[k], key, klen) == 0) {
          v->count++;
          snprintf(ps->err, sizeof ps->err, "duplicate key \"%.40s\"", key);
          return -1;
        }
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        v->count++;
        return perr(ps, "expected ':' after a key");
      }
      ps->p++;
    }
    v->count++;
    if (parse_value(ps, item) != 0)
      return -1;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
      ps->p++;
      ps->depth--;
      return 0;
    }
    return perr(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int literal(parser *ps, const char *word, jv *v, jv_type t)
{
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return perr(ps, "unexpected character");
  ps->p += n;
  v->type = t;
  return 0;
}

static int parse_value(parser *ps, jv *v)
{
  skip_ws(ps);
  if (ps->p >= ps->end)
    return perr(ps, "unexpected end of line");
  switch (*ps->p) {
  case '{': return parse_container(ps, v, 1);
  case '[': return parse_container(ps, v, 0);
  case '"':
    v->type = JV_STR;
    return parse_string(ps, &v->str, &v->len);
  case 't': return literal(ps, "true", v, JV_TRUE);
  case 'f': return literal(ps, "false", v, JV_FALSE);
  case 'n': return literal(ps, "null", v, JV_NULL);
  default:
    if (*ps->p == '-' || is_digit(*ps->p))
      return parse_number(ps, v);
    return perr(ps, "unexpected character");
  }
}

/* ---- numbers ------------------------------------------------------------ */

int jsonl_number_to_decimal(const char *num, size_t len, char *out, size_t size)
{
  const char *e = memchr(num, 'e', len);
  if (!e)
    e = memchr(num, 'E', len);
  if (!e) {
    if (len + 1 > size)
      return -1;
    memcpy(out, num, len);
    out[len] = '\0';
    return 0;
  }
  const char *p = num, *mend = e;
  int neg = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  char digits[96];
  size_t nd = 0, int_digits = 0;
  for (; p < mend; p++) {
    if (*p == '.')
      continue;
    if (nd + 1 >= sizeof digits)
      return -1;
    digits[nd++] = *p;
    if (!memchr(num, '.', (size_t)(p - num)))
      int_digits++;
  }
  const char *x = e + 1;
  int eneg = 0;
  if (*x == '+' || *x == '-')
    eneg = *x++ == '-';
  long exp = 0;
  for (; x < num + len; x++) {
    exp = exp * 10 + (*x - '0');
    if (exp > 64)
      return -1; /* 1e400 would be 400 digits: not something to spell out */
  }
  long point = (long)int_digits + (eneg ? -exp : exp);
  size_t o = 0;
  char buf[256];
  if (neg)
    buf[o++] = '-';
  if (point <= 0) {
    buf[o++] = '0';
    buf[o++] = '.';
    for (long i = 0; i < -point; i++)
      buf[o++] = '0';
    memcpy(buf + o, digits, nd);
    o += nd;
  } else if ((size_t)point >= nd) {
    memcpy(buf + o, digits, nd);
    o += nd;
    for (size_t i = nd; i < (size_t)point; i++)
      buf[o++] = '0';
  } else {
    memcpy(buf + o, digits, (size_t)point);
    o += (size_t)point;
    buf[o++] = '.';
    memcpy(buf + o, digits + point, nd - (size_t)point);
    o += nd - (size_t)point;
  }
  if (o + 1 > size)
    return -1;
  memcpy(out, buf, o);
  out[o] = '\0';
  return 0;
}

/* ---- a line into record values ------------------------------------------ */

/* Everything a parsed line owns: the tree and converted numbers. */
typedef struct line_storage {
  jv root;
  char numbers[CLI_MAX_FIELDS][128];
} line_storage;

void jsonl_storage_free(void *storage)
{
  line_storage *ls = storage;
  if (!ls)
    return;
  jv_free(&ls->root);
  free(ls);
}

static int scalar_text(const jv *v, const char **s, size_t *len)
{
  switch (v->type) {
  case JV_STR:
  case JV_NUM: *s = v->str; *len = v->len; return 0;
  case JV_TRUE: *s = "true"; *len = 4; return 0;
  case JV_FALSE: *s = "false"; *len = 5; return 0;
  default: return -1;
  }
}

static int add_attr(rec_input *in, size_t *cap, const char *key, size_t klen, const char *value,
                    size_t vlen, rec_error *err)
{
  if (klen == 0 || memchr(key, '\0', klen) || memchr(value, '\0', vlen)) {
    rec_error_set(err, "invalid_value", "attribute", "attribute: empty key or NUL byte");
    return -1;
  }
  if (in->nattrs == *cap) {
    *cap = *cap ? *cap * 2 : 4;
    cli_kv *grown = realloc(in->attrs, *cap * sizeof *grown);
    if (!grown) {
      rec_error_set(err, "internal", NULL, "out of memory");
      return -1;
    }
    in->attrs = grown;
  }
  char *copy = malloc(klen + vlen + 2);
  if (!copy) {
    rec_error_set(err, "internal", NULL, "out of memory");
    return -1;
  }
  memcpy(copy, key, klen);
  copy[klen] = '\0';
  memcpy(copy + klen + 1, value, vlen);
  copy[klen + 1 + vlen] = '\0';
  in->attrs[in->nattrs].key = copy;
  in->attrs[in->nattrs].value = copy + klen + 1;
  in->nattrs++;
  return 0;
}

static int attr_value(rec_input *in, size_t *cap, const jv *v, rec_error *err)
{
  if (v->type == JV_OBJ) {
    for (size_t i = 0; i < v->count; i++) {
      const char *s;
      size_t n;
      if (scalar_text(&v->items[i], &s, &n) != 0) {
        rec_error_set(err, "invalid_value", "attribute", "attribute \"%.40s\": expected a "
                      "string, got %s", v->keys[i], type_names[v->items[i].type]);
        return -1;
      }
      if (add_attr(in, cap, v->keys[i], v->klens[i], s, n, err) != 0)
        return -1;
    }
    return 0;
  }
  if (v->type == JV_STR) {
    const char *eq = memchr(v->str, '=', v->len);
    if (!eq || eq == v->str) {
      rec_error_set(err, "invalid_value", "attribute", "attribute: expected \"key=value\" or "
                    "an object, got \"%.40s\"", v->str);
      return -1;
    }
    return add_attr(in, cap, v->str, (size_t)(eq - v->str), eq + 1,
                    v->len - (size_t)(eq - v->str) - 1, err);
  }
  if (v->type == JV_ARR) {
    for (size_t i = 0; i < v->count; i++) {
      if (v->items[i].type != JV_STR) {
        rec_error_set(err, "invalid_value", "attribute", "attribute: array items must be "
                      "\"key=value\" strings");
        return -1;
      }
      if (attr_value(in, cap, &v->items[i], err) != 0)
        return -1;
    }
    return 0;
  }
  rec_error_set(err, "invalid_value", "attribute", "attribute: expected an object of strings, "
                "got %s", type_names[v->type]);
  return -1;
}

static int alloc_push(rec_input *in, size_t *cap, rec_error *err)
{
  if (in->nallocs == *cap) {
    *cap = *cap ? *cap * 2 : 4;
    cli_alloc *grown = realloc(in->allocs, *cap * sizeof *grown);
    if (!grown) {
      rec_error_set(err, "internal", NULL, "out of memory");
      return -1;
    }
    in->allocs = grown;
  }
  memset(&in->allocs[in->nallocs], 0, sizeof in->allocs[0]);
  return 0;
}

static int alloc_value(rec_input *in, size_t *cap, const jv *v, int top, rec_error *err)
{
  char why[200];
  if (v->type == JV_STR) {
    if (alloc_push(in, cap, err) != 0)
      return -1;
    if (memchr(v->str, '\0', v->len) ||
        cli_parse_allocation(v->str, &in->allocs[in->nallocs], why, sizeof why) != 0) {
      rec_error_set(err, "invalid_value", "allocation", "%s", why);
      return -1;
    }
    in->nallocs++;
    return 0;
  }
  if (v->type == JV_ARR && top) {
    for (size_t i = 0; i < v->count; i++)
      if (alloc_value(in, cap, &v->items[i], 0, err) != 0)
        return -1;
    return 0;
  }
  if (v->type != JV_OBJ) {
    rec_error_set(err, "invalid_value", "allocation", "allocation: expected \"QTY:key=value,...\""
                  " or {\"quantity\": N, \"tags\": {...}}, got %s", type_names[v->type]);
    return -1;
  }
  if (alloc_push(in, cap, err) != 0)
    return -1;
  cli_alloc *a = &in->allocs[in->nallocs];
  in->nallocs++; /* counted now so that dispose frees partial tags */
  int have_qty = 0;
  for (size_t i = 0; i < v->count; i++) {
    const jv *item = &v->items[i];
    if (strcmp(v->keys[i], "quantity") == 0) {
      const char *s;
      size_t n;
      if (scalar_text(item, &s, &n) != 0 || n == 0 || n > 18 || item->type == JV_TRUE ||
          item->type == JV_FALSE) {
        rec_error_set(err, "invalid_value", "allocation", "allocation: quantity must be a "
                      "whole number");
        return -1;
      }
      int64_t q = 0;
      for (size_t k = 0; k < n; k++) {
        if (!is_digit(s[k])) {
          rec_error_set(err, "invalid_value", "allocation", "allocation: quantity must be a "
                        "non-negative whole number, got \"%.*s\"", (int)(n > 30 ? 30 : n), s);
          return -1;
        }
        q = q * 10 + (s[k] - '0');
      }
      a->quantity = q;
      have_qty = 1;
    } else if (strcmp(v->keys[i], "tags") == 0 && item->type == JV_OBJ) {
      a->keys = calloc(item->count + 1, sizeof *a->keys);
      a->values = calloc(item->count + 1, sizeof *a->values);
      if (!a->keys || !a->values) {
        rec_error_set(err, "internal", NULL, "out of memory");
        return -1;
      }
      for (size_t t = 0; t < item->count; t++) {
        const char *s;
        size_t n;
        if (scalar_text(&item->items[t], &s, &n) != 0) {
          rec_error_set(err, "invalid_value", "allocation", "allocation: tag \"%.40s\" must be "
                        "a string", item->keys[t]);
          return -1;
        }
        a->keys[a->ntags] = strndup(item->keys[t], item->klens[t]);
        a->values[a->ntags] = strndup(s, n);
        a->ntags++;
        if (!a->keys[a->ntags - 1] || !a->values[a->ntags - 1]) {
          rec_error_set(err, "internal", NULL, "out of memory");
          return -1;
        }
      }
    } else {
      rec_error_set(err, "invalid_value", "allocation", "allocation: unknown key \"%.40s\" "
                    "(expected quantity and tags, tags an object)", v->keys[i]);
      return -1;
    }
  }
  if (!have_qty) {
    rec_error_set(err, "invalid_value", "allocation", "allocation: quantity is missing");
    return -1;
  }
  return 0;
}

int jsonl_parse_line(const char *line, size_t len, rec_input *in, void **storage, rec_error *err)
{
  memset(in, 0, sizeof *in);
  *storage = NULL;
  line_storage *ls = calloc(1, sizeof *ls);
  if (!ls) {
    rec_error_set(err, "internal", NULL, "out of memory");
    return -1;
  }
  *storage = ls;
  parser ps = { line, line, line + len, 0, "" };
  skip_ws(&ps);
  if (ps.p >= ps.end || *ps.p != '{') {
    rec_error_set(err, "malformed_json", NULL, "expected a JSON object {...} on the line");
    return -1;
  }
  if (parse_value(&ps, &ls->root) != 0) {
    rec_error_set(err, "malformed_json", NULL, "%s", ps.err);
    return -1;
  }
  skip_ws(&ps);
  if (ps.p != ps.end) {
    perr(&ps, "text after the object");
    rec_error_set(err, "malformed_json", NULL, "%s", ps.err);
    return -1;
  }

  size_t acap = 0, tcap = 0;
  const jv *root = &ls->root;
  for (size_t i = 0; i < root->count; i++) {
    const char *key = root->keys[i];
    const jv *v = &root->items[i];
    if (strcmp(key, "allocation") == 0 || strcmp(key, "allocations") == 0) {
      if (v->type != JV_NULL && alloc_value(in, &acap, v, 1, err) != 0)
        return -1;
      continue;
    }
    if (strcmp(key, "attribute") == 0 || strcmp(key, "attributes") == 0) {
      if (v->type != JV_NULL && attr_value(in, &tcap, v, err) != 0)
        return -1;
      continue;
    }
    meter_field f = strlen(key) == root->klens[i] ? meter_field_from_name(key) : 0;
    const char *canon = f ? meter_field_name(f) : NULL;
    if (!canon || strcmp(canon, key) != 0 || (int)f >= CLI_MAX_FIELDS) {
      rec_error_set(err, "unknown_key", NULL, "unknown key \"%.40s\" (keys are the record "
                    "fields in snake_case, e.g. customer, end_time; see meter batch --help)", key);
      return -1;
    }
    if (v->type == JV_NULL)
      continue; /* null: as if the key were absent */
    const char *s;
    size_t n;
    if (scalar_text(v, &s, &n) != 0) {
      rec_error_set(err, "invalid_value", canon, "%s: expected a string or number, got %s",
                    canon, type_names[v->type]);
      return -1;
    }
    if (v->type == JV_NUM && (f == METER_FIELD_QUANTITY || f == METER_FIELD_PRICE)) {
      if (jsonl_number_to_decimal(v->str, v->len, ls->numbers[f], sizeof ls->numbers[f]) != 0) {
        rec_error_set(err, "invalid_value", canon, "%s: the JSON number %.40s cannot be kept "
                      "exact; pass it as a string of decimal digits, e.g. \"%s\": \"1250.5\"",
                      canon, v->str, canon);
        return -1;
      }
      s = ls->numbers[f];
      n = strlen(s);
    }
    in->value[f] = s;
    in->len[f] = n;
  }
  return 0;
}
