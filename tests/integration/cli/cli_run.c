/* nftw() */
#define _XOPEN_SOURCE 700

#include "cli_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *cli_binary(void)
{
  const char *env = getenv("METER_CLI");
  return env && *env ? env : METER_BINARY_DIR "/tools/meter/meter";
}

static char home[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void remove_home(void)
{
  if (home[0])
    nftw(home, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *cli_home(void)
{
  if (!home[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(home, sizeof home, "%s/meter-cli-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(home)) {
      perror("mkdtemp");
      abort();
    }
    atexit(remove_home);
  }
  return home;
}

static int grow_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 4096;
    while (*len + n + 1 > c)
      c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
      return -1;
    *buf = p;
    *cap = c;
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

static size_t envp_build(char **envp, size_t max, const char *const *env);

int proc_run(cli_result *r, const char *path, const char *const *args, const char *const *env,
             const char *input, size_t input_len)
{
  memset(r, 0, sizeof *r);
  const char *argv[256];
  size_t na = 0;
  argv[na++] = path;
  for (size_t i = 0; args && args[i] && na < 255; i++)
    argv[na++] = args[i];
  argv[na] = NULL;

  /* A minimal environment: nothing of the caller's TACKLE_*, AWS_*, ... */
  char *envp[128];
  envp_build(envp, 128, env);

  int in[2], out[2], err[2];
  if (pipe(in) || pipe(out) || pipe(err))
    return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  int fds[6] = { in[0], in[1], out[0], out[1], err[0], err[1] };
  for (int i = 0; i < 6; i++)
    posix_spawn_file_actions_addclose(&fa, fds[i]);
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    fprintf(stderr, "cannot run %s: %s\n", path, strerror(rc));
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return -1;
  }
  /* A child that exits without reading stdin must not kill us. */
  signal(SIGPIPE, SIG_IGN);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0, ocap = 0, ecap = 0;
  if (!input || input_len == 0) {
    close(in[1]);
    in[1] = -1;
  }
  r->out = calloc(1, 1);
  r->err = calloc(1, 1);
  int open_out = 1, open_err = 1;
  while (open_out || open_err) {
    struct pollfd p[3];
    int n = 0, io = -1, oo = -1, eo = -1;
    if (in[1] >= 0) {
      p[n] = (struct pollfd){ in[1], POLLOUT, 0 };
      io = n++;
    }
    if (open_out) {
      p[n] = (struct pollfd){ out[0], POLLIN, 0 };
      oo = n++;
    }
    if (open_err) {
      p[n] = (struct pollfd){ err[0], POLLIN, 0 };
      eo = n++;
    }
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    char buf[65536];
    if (io >= 0 && p[io].revents) {
      ssize_t w = write(in[1], input + written, input_len - written);
      if (w > 0)
        written += (size_t)w;
      if (w < 0 && errno != EAGAIN) {
        close(in[1]);
        in[1] = -1;
      } else if (written == input_len) {
        close(in[1]);
        in[1] = -1;
      }
    }
    if (oo >= 0 && p[oo].revents) {
      ssize_t k = read(out[0], buf, sizeof buf);
      if (k > 0)
        grow_append(&r->out, &r->out_len, &ocap, buf, (size_t)k);
      else
        open_out = 0;
    }
    if (eo >= 0 && p[eo].revents) {
      ssize_t k = read(err[0], buf, sizeof buf);
      if (k > 0)
        grow_append(&r->err, &r->err_len, &ecap, buf, (size_t)k);
      else
        open_err = 0;
    }
  }
  if (in[1] >= 0)
    close(in[1]);
  close(out[0]);
  close(err[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return 0;
}

int cli_run(cli_result *r, const char *const *args, const char *const *env, const char *input)
{
  return proc_run(r, cli_binary(), args, env, input, input ? strlen(input) : 0);
}

void cli_result_free(cli_result *r)
{
  free(r->out);
  free(r->err);
  memset(r, 0, sizeof *r);
}

const char *cli_write_file(const char *name, const char *text, int mode)
{
  static char paths[16][512];
  static int used;
  char *p = paths[used++ % 16];
  snprintf(p, 512, "%s/%s", cli_home(), name);
  FILE *f = fopen(p, "w");
  if (!f)
    abort();
  fputs(text, f);
  fclose(f);
  chmod(p, (mode_t)mode);
  return p;
}

static size_t envp_build(char **envp, size_t max, const char *const *env)
{
  static const char *const keep[] = { "PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                                      "TSAN_OPTIONS", "LD_LIBRARY_PATH", "TMPDIR", NULL };
  static char home_var[300];
  static char no_imds[] = "AWS_EC2_METADATA_DISABLED=true";
  size_t ne = 0;
  snprintf(home_var, sizeof home_var, "HOME=%s", cli_home());
  envp[ne++] = home_var;
  envp[ne++] = no_imds;
  for (size_t k = 0; keep[k]; k++) {
    size_t kl = strlen(keep[k]);
    for (char **e = environ; *e && ne < max - 1; e++)
      if (strncmp(*e, keep[k], kl) == 0 && (*e)[kl] == '=')
        envp[ne++] = *e;
  }
  for (size_t i = 0; env && env[i] && ne < max - 1; i++)
    envp[ne++] = (char *)env[i];
  envp[ne] = NULL;
  return ne;
}

int cli_start(cli_proc *p, const char *const *args, const char *const *env)
{
  static int seq;
  memset(p, 0, sizeof *p);
  snprintf(p->out_path, sizeof p->out_path, "%s/bg-%d.out", cli_home(), seq);
  snprintf(p->err_path, sizeof p->err_path, "%s/bg-%d.err", cli_home(), seq++);
  const char *argv[256];
  size_t na = 0;
  argv[na++] = cli_binary();
  for (size_t i = 0; args && args[i] && na < 255; i++)
    argv[na++] = args[i];
  argv[na] = NULL;
  char *envp[128];
  envp_build(envp, 128, env);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  p->pid = (int)pid;
  return 0;
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t n = 0, cap = 0;
  if (f) {
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
      grow_append(&buf, &n, &cap, chunk, k);
    fclose(f);
  }
  if (!buf)
    buf = calloc(1, 1);
  *len = n;
  return buf;
}

int cli_stop(cli_proc *p, int sig, cli_result *r)
{
  memset(r, 0, sizeof *r);
  if (p->pid <= 0)
    return -1;
  kill((pid_t)p->pid, sig);
  int st;
  while (waitpid((pid_t)p->pid, &st, 0) < 0 && errno == EINTR) {
  }
  p->pid = 0;
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r->out = slurp(p->out_path, &r->out_len);
  r->err = slurp(p->err_path, &r->err_len);
  return 0;
}
