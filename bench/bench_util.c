#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t bench_wall_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bench_lat_add(bench_lat *l, double seconds)
{
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4096;
    uint32_t *p = realloc(l->us, nc * sizeof *p);
    if (!p) {
      fprintf(stderr, "bench: out of memory\n");
      exit(1);
    }
    l->us = p;
    l->cap = nc;
  }
  double us = seconds * 1e6;
  l->us[l->n++] = us > 4e9 ? 4000000000u : (uint32_t)(us + 0.5);
}

void bench_lat_merge(bench_lat *dst, const bench_lat *src)
{
  for (size_t i = 0; i < src->n; i++)
    bench_lat_add(dst, src->us[i] / 1e6);
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

double bench_lat_ms(bench_lat *l, double q)
{
  if (!l->n)
    return 0;
  qsort(l->us, l->n, sizeof *l->us, cmp_u32);
  size_t i = (size_t)(q * (double)(l->n - 1) + 0.5);
  return l->us[i] / 1000.0;
}

void bench_lat_clear(bench_lat *l)
{
  l->n = 0;
}

void bench_lat_free(bench_lat *l)
{
  free(l->us);
  memset(l, 0, sizeof *l);
}

long bench_rss_kb(const char *field)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0)
      kb = atol(line + n);
  if (f)
    fclose(f);
  return kb;
}

void bench_emit(const char *group, const char *client, int run, const char *extra)
{
  printf("{\"group\":\"%s\",\"client\":\"%s\",\"run\":%d%s%s}\n", group, client, run,
         extra && *extra ? "," : "", extra ? extra : "");
  fflush(stdout);
}

const char *bench_arg(int argc, char **argv, int *i)
{
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[*i]);
    exit(2);
  }
  return argv[++*i];
}
