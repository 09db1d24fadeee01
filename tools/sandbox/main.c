/* meter-sandbox: flags, the start-up line, and a clean stop on SIGTERM or
 * SIGINT. See docs/sandbox.md. */
#include "faults.h"
#include "sandbox.h"
#include "server.h"
#include "tokens.h"

#include "core/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
  "usage: meter-sandbox [options]\n"
  "\n"
  "A local emulator of Tackle, AppDirect (Billing Usage v2) and AWS Marketplace\n"
  "Metering on one loopback port. Prints one line on stdout,\n"
  "  meter-sandbox listening on http://127.0.0.1:PORT\n"
  "then logs to stderr only. SIGTERM or SIGINT stops it. See docs/sandbox.md.\n"
  "\n"
  "Server:\n"
  "  --port N                      port to listen on; 0 picks a free one (default 0)\n"
  "  --listen ADDR                 address to bind (default 127.0.0.1)\n"
  "  --threads N                   worker threads (default: number of cores)\n"
  "  --max-body BYTES              largest request body (default 4194304)\n"
  "  --seed N                      seed of fault decisions and ids (default 0)\n"
  "  --fault ROUTE:KIND[:RATE[:PARAM]]\n"
  "                                inject a fault (repeatable); KIND error500, error503,\n"
  "                                throttle, slow, reset, drop_after_apply, unprocessed;\n"
  "                                PARAM: delay ms (slow) or Retry-After s (throttle)\n"
  "  --clock-offset SECONDS        run the sandbox clock ahead (or behind, negative)\n"
  "  --bench                       bench mode: keep nothing per new request (AWS\n"
  "                                ClientTokens, AppDirect requests: counted only)\n"
  "  -v, --verbose                 log every request to stderr\n"
  "  -h, --help                    this text\n"
  "\n"
  "Tackle:\n"
  "  --tackle-client-id ID         (default sandbox-tackle-id)\n"
  "  --tackle-client-secret S      (default sandbox-tackle-secret)\n"
  "  --tackle-token-ttl SECONDS    access token lifetime (default 5400)\n"
  "  --tackle-send-delay MS        records move idle -> accepted (sent) after it; a PUT\n"
  "                                for a sent hour then gets 409 (default 10000)\n"
  "\n"
  "AppDirect:\n"
  "  --appdirect-client-id ID      (default sandbox-appdirect-id)\n"
  "  --appdirect-client-secret S   (default sandbox-appdirect-secret)\n"
  "  --appdirect-token-ttl SECONDS access token lifetime (default 43199)\n"
  "  --appdirect-processing-ms MS  PROCESSING until then (default 1000)\n"
  "\n"
  "AWS Marketplace Metering:\n"
  "  --aws-access-key-id AKID      (default AKIDSANDBOXEXAMPLE)\n"
  "  --aws-secret-access-key KEY   (default sandbox+secret/KEY/EXAMPLE)\n"
  "  --aws-session-token TOKEN     require this session token (default: any, if signed)\n"
  "  --aws-region REGION           the endpoint's region (default us-east-1)\n"
  "  --aws-resource-region REGION  region of the simulated instance/task (default: the\n"
  "                                endpoint's); differing -> InvalidEndpointRegion/\n"
  "                                InvalidRegion\n"
  "  --aws-meter-window-hours H    MeterUsage window (default 6)\n"
  "  --aws-batch-window-hours H    BatchMeterUsage window (default 24)\n"
  "  --max-skew SECONDS            X-Amz-Date tolerance (default 300)\n";

enum {
  OPT_PORT = 1000, OPT_LISTEN, OPT_THREADS, OPT_MAX_BODY, OPT_SEED, OPT_FAULT, OPT_CLOCK,
  OPT_TK_ID, OPT_TK_SECRET, OPT_TK_TTL, OPT_TK_DELAY,
  OPT_AD_ID, OPT_AD_SECRET, OPT_AD_TTL, OPT_AD_PROC,
  OPT_AWS_AKID, OPT_AWS_SECRET, OPT_AWS_TOKEN, OPT_AWS_REGION, OPT_AWS_RES_REGION,
  OPT_AWS_METER_H, OPT_AWS_BATCH_H, OPT_SKEW, OPT_BENCH
};

static const struct option options[] = {
  { "port", required_argument, NULL, OPT_PORT },
  { "listen", required_argument, NULL, OPT_LISTEN },
  { "threads", required_argument, NULL, OPT_THREADS },
  { "max-body", required_argument, NULL, OPT_MAX_BODY },
  { "seed", required_argument, NULL, OPT_SEED },
  { "fault", required_argument, NULL, OPT_FAULT },
  { "clock-offset", required_argument, NULL, OPT_CLOCK },
  { "tackle-client-id", required_argument, NULL, OPT_TK_ID },
  { "tackle-client-secret", required_argument, NULL, OPT_TK_SECRET },
  { "tackle-token-ttl", required_argument, NULL, OPT_TK_TTL },
  { "tackle-send-delay", required_argument, NULL, OPT_TK_DELAY },
  { "appdirect-client-id", required_argument, NULL, OPT_AD_ID },
  { "appdirect-client-secret", required_argument, NULL, OPT_AD_SECRET },
  { "appdirect-token-ttl", required_argument, NULL, OPT_AD_TTL },
  { "appdirect-processing-ms", required_argument, NULL, OPT_AD_PROC },
  { "aws-access-key-id", required_argument, NULL, OPT_AWS_AKID },
  { "aws-secret-access-key", required_argument, NULL, OPT_AWS_SECRET },
  { "aws-session-token", required_argument, NULL, OPT_AWS_TOKEN },
  { "aws-region", required_argument, NULL, OPT_AWS_REGION },
  { "aws-resource-region", required_argument, NULL, OPT_AWS_RES_REGION },
  { "aws-meter-window-hours", required_argument, NULL, OPT_AWS_METER_H },
  { "aws-batch-window-hours", required_argument, NULL, OPT_AWS_BATCH_H },
  { "max-skew", required_argument, NULL, OPT_SKEW },
  { "bench", no_argument, NULL, OPT_BENCH },
  { "verbose", no_argument, NULL, 'v' },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* A number flag within [min, max]; exits with status 2 otherwise. */
static long long number(const char *flag, const char *v, long long min, long long max)
{
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < min || n > max) {
    fprintf(stderr, "meter-sandbox: --%s: expected an integer in [%lld, %lld], got '%s'\n", flag,
            min, max, v);
    exit(2);
  }
  return n;
}

static void defaults(sbx_config *c)
{
  memset(c, 0, sizeof *c);
  c->listen_addr = "127.0.0.1";
  c->port = 0;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = cores > 0 ? (unsigned)cores : 2;
  c->tackle_id = "sandbox-tackle-id";
  c->tackle_secret = "sandbox-tackle-secret";
  c->appdirect_id = "sandbox-appdirect-id";
  c->appdirect_secret = "sandbox-appdirect-secret";
  c->aws_access_key_id = "AKIDSANDBOXEXAMPLE";
  c->aws_secret_access_key = "sandbox+secret/KEY/EXAMPLE";
  c->aws_region = "us-east-1";
  c->tackle_token_ttl_s = 5400;
  c->appdirect_token_ttl_s = 43199;
  c->tackle_send_delay_ms = 10000;
  c->appdirect_processing_ms = 1000;
  c->aws_meter_window_h = 6;
  c->aws_batch_window_h = 24;
  c->max_skew_s = 300;
  c->max_body = 4u << 20;
}

static void free_state(sbx *s)
{
  sbx_faults_free(s->faults);
  sbx_tokens_free(s->tackle_tokens);
  sbx_tokens_free(s->appdirect_tokens);
  sbx_tackle_free(s->tackle);
  sbx_appdirect_free(s->appdirect);
  sbx_aws_free(s->aws);
}

int main(int argc, char **argv)
{
  static sbx s; /* zeroed; lives for the whole process */
  defaults(&s.cfg);
  const char *faults[64];
  size_t nfaults = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
    switch (opt) {
    case OPT_PORT: s.cfg.port = (int)number("port", optarg, 0, 65535); break;
    case OPT_LISTEN: s.cfg.listen_addr = optarg; break;
    case OPT_THREADS: s.cfg.threads = (unsigned)number("threads", optarg, 1, 1024); break;
    case OPT_MAX_BODY: s.cfg.max_body = (size_t)number("max-body", optarg, 1024, 1LL << 30); break;
    case OPT_SEED: s.cfg.seed = (uint64_t)number("seed", optarg, 0, INT64_MAX); break;
    case OPT_FAULT:
      if (nfaults == sizeof faults / sizeof faults[0]) {
        fprintf(stderr, "meter-sandbox: too many --fault flags\n");
        return 2;
      }
      faults[nfaults++] = optarg;
      break;
    case OPT_CLOCK:
      s.cfg.clock_offset_us = number("clock-offset", optarg, -10LL * 365 * 86400,
                                     10LL * 365 * 86400) * 1000000;
      break;
    case OPT_TK_ID: s.cfg.tackle_id = optarg; break;
    case OPT_TK_SECRET: s.cfg.tackle_secret = optarg; break;
    case OPT_TK_TTL: s.cfg.tackle_token_ttl_s = (long)number("tackle-token-ttl", optarg, 0, 1LL << 31); break;
    case OPT_TK_DELAY: s.cfg.tackle_send_delay_ms = (long)number("tackle-send-delay", optarg, 0, 1LL << 40); break;
    case OPT_AD_ID: s.cfg.appdirect_id = optarg; break;
    case OPT_AD_SECRET: s.cfg.appdirect_secret = optarg; break;
    case OPT_AD_TTL: s.cfg.appdirect_token_ttl_s = (long)number("appdirect-token-ttl", optarg, 0, 1LL << 31); break;
    case OPT_AD_PROC: s.cfg.appdirect_processing_ms = (long)number("appdirect-processing-ms", optarg, 0, 1LL << 40); break;
    case OPT_AWS_AKID: s.cfg.aws_access_key_id = optarg; break;
    case OPT_AWS_SECRET: s.cfg.aws_secret_access_key = optarg; break;
    case OPT_AWS_TOKEN: s.cfg.aws_session_token = optarg; break;
    case OPT_AWS_REGION: s.cfg.aws_region = optarg; break;
    case OPT_AWS_RES_REGION: s.cfg.aws_resource_region = optarg; break;
    case OPT_AWS_METER_H: s.cfg.aws_meter_window_h = (long)number("aws-meter-window-hours", optarg, 1, 24 * 366); break;
    case OPT_AWS_BATCH_H: s.cfg.aws_batch_window_h = (long)number("aws-batch-window-hours", optarg, 1, 24 * 366); break;
    case OPT_SKEW: s.cfg.max_skew_s = (long)number("max-skew", optarg, 0, 86400); break;
    case OPT_BENCH: s.cfg.bench = 1; break;
    case 'v': s.cfg.verbose = 1; break;
    case 'h': fputs(usage_text, stdout); return 0;
    default: fputs(usage_text, stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "meter-sandbox: unexpected argument '%s' (see --help)\n", argv[optind]);
    return 2;
  }
  unsigned char addr[16];
  if (inet_pton(AF_INET, s.cfg.listen_addr, addr) != 1 &&
      inet_pton(AF_INET6, s.cfg.listen_addr, addr) != 1) {
    fprintf(stderr, "meter-sandbox: --listen: not an IPv4 or IPv6 address: %s\n",
            s.cfg.listen_addr);
    return 2;
  }
  if (!s.cfg.aws_resource_region)
    s.cfg.aws_resource_region = s.cfg.aws_region;
  atomic_store(&s.clock_offset_us, (long long)s.cfg.clock_offset_us);

  s.faults = sbx_faults_new(s.cfg.seed);
  s.tackle_tokens = sbx_tokens_new();
  s.appdirect_tokens = sbx_tokens_new();
  s.tackle = sbx_tackle_new();
  s.appdirect = sbx_appdirect_new();
  s.aws = sbx_aws_new();
  if (!s.faults || !s.tackle_tokens || !s.appdirect_tokens || !s.tackle || !s.appdirect ||
      !s.aws) {
    fprintf(stderr, "meter-sandbox: out of memory\n");
    free_state(&s);
    return 1;
  }
  for (size_t i = 0; i < nfaults; i++) {
    char err[400];
    if (sbx_faults_add_spec(s.faults, faults[i], err, sizeof err) < 0) {
      fprintf(stderr, "meter-sandbox: --fault: %s\n", err);
      free_state(&s);
      return 2;
    }
  }

  /* Block the stop signals in every thread (MHD's inherit the mask); the
   * main thread waits for them with sigwait. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  int port = 0;
  sbx_server *srv = sbx_server_start(&s, &port);
  if (!srv) {
    free_state(&s);
    return 1;
  }
  int v6 = strchr(s.cfg.listen_addr, ':') != NULL;
  printf("meter-sandbox listening on http://%s%s%s:%d\n", v6 ? "[" : "", s.cfg.listen_addr,
         v6 ? "]" : "", port);
  fflush(stdout);
  if (s.cfg.verbose)
    fprintf(stderr, "meter-sandbox: %u threads, seed %llu\n", s.cfg.threads,
            (unsigned long long)s.cfg.seed);

  int sig = 0;
  sigwait(&stop, &sig);
  if (s.cfg.verbose)
    fprintf(stderr, "meter-sandbox: signal %d, stopping\n", sig);
  sbx_server_stop(srv);
  free_state(&s);
  return 0;
}
