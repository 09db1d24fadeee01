/* Shared by the C benchmark programs: clocks, latency percentiles, peak
 * memory, and the one-JSON-object-per-line output that bench/report.py reads
 * (every program prints one line per timed run, the warm-up run is not
 * printed). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic seconds. */
double bench_now(void);
/* Wall clock, microseconds since the epoch (what a signer stamps). */
int64_t bench_wall_us(void);

/* Latencies of one run, in microseconds; grows as needed. */
typedef struct bench_lat {
  uint32_t *us;
  size_t n, cap;
} bench_lat;

void bench_lat_add(bench_lat *l, double seconds);
/* Appends every sample of src to dst. */
void bench_lat_merge(bench_lat *dst, const bench_lat *src);
/* The q-quantile (0..1) in milliseconds; sorts the samples. 0 if empty. */
double bench_lat_ms(bench_lat *l, double q);
void bench_lat_clear(bench_lat *l);
void bench_lat_free(bench_lat *l);

/* VmHWM / VmRSS of this process, kB (-1 if unknown). */
long bench_rss_kb(const char *field);

/* One result line: {"group":..,"client":..,"run":N, <extra>} where extra is
 * a preformatted list of JSON members ("\"rps\":123,\"p50_ms\":0.2"). */
void bench_emit(const char *group, const char *client, int run, const char *extra);

/* Command-line helpers: the value after flag i, or exits with status 2. */
const char *bench_arg(int argc, char **argv, int *i);

#endif
