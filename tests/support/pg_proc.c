#include "pg_proc.h"

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static int find_bindir(char *out, size_t size)
{
  const char *env = getenv("METER_PG_BINDIR");
  if (env && *env) {
    snprintf(out, size, "%s", env);
    return 0;
  }
  glob_t g;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0)
    return -1;
  snprintf(out, size, "%s", g.gl_pathv[g.gl_pathc - 1]);
  globfree(&g);
  char *slash = strrchr(out, '/');
  if (slash)
    *slash = '\0';
  return 0;
}

/* Runs argv as the postgres user when we are root; quiet unless it fails. */
static int run(const char *const *argv)
{
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (getuid() == 0) {
      struct passwd *pw = getpwnam("postgres");
      if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        _exit(126);
    }
    int devnull = open("/dev/null", 1);
    if (devnull >= 0)
      dup2(devnull, STDOUT_FILENO);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int start_server(pg_proc *p)
{
  char bin[512], log[512], opts[512];
  snprintf(bin, sizeof bin, "%s/pg_ctl", p->bindir);
  snprintf(log, sizeof log, "%s/server.log", p->dir);
  snprintf(opts, sizeof opts, "-p %d -h 127.0.0.1 -k %s -c fsync=off -c max_connections=200",
           p->port, p->dir);
  const char *argv[] = { bin, "-D", p->dir, "-l", log, "-o", opts, "-w", "-t", "60", "start", NULL };
  if (run(argv) != 0) {
    fprintf(stderr, "pg_proc: pg_ctl start failed (see %s)\n", log);
    return -1;
  }
  p->running = 1;
  return 0;
}

int pg_start(pg_proc *p)
{
  memset(p, 0, sizeof *p);
  if (find_bindir(p->bindir, sizeof p->bindir) != 0) {
    fprintf(stderr, "pg_proc: PostgreSQL server binaries not found (apt-get install postgresql)\n");
    return -1;
  }
  snprintf(p->dir, sizeof p->dir, "/tmp/meter-pg-XXXXXX");
  if (!mkdtemp(p->dir))
    return -1;
  if (getuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw || chown(p->dir, pw->pw_uid, pw->pw_gid) != 0) {
      fprintf(stderr, "pg_proc: running as root needs the postgres user\n");
      return -1;
    }
  }
  chmod(p->dir, 0700);
  char initdb[512];
  snprintf(initdb, sizeof initdb, "%s/initdb", p->bindir);
  const char *argv[] = { initdb, "-D", p->dir, "-A", "trust", "-U", "meter", "-E", "UTF8",
                         "--no-sync", NULL };
  if (run(argv) != 0) {
    fprintf(stderr, "pg_proc: initdb failed in %s\n", p->dir);
    return -1;
  }
  if ((p->port = free_port()) < 0 || start_server(p) != 0)
    return -1;
  char createdb[512], port[16];
  snprintf(createdb, sizeof createdb, "%s/createdb", p->bindir);
  snprintf(port, sizeof port, "%d", p->port);
  const char *cargv[] = { createdb, "-h", "127.0.0.1", "-p", port, "-U", "meter", "meter", NULL };
  if (run(cargv) != 0) {
    fprintf(stderr, "pg_proc: createdb failed\n");
    pg_stop(p);
    return -1;
  }
  snprintf(p->conninfo, sizeof p->conninfo, "postgresql://meter@127.0.0.1:%d/meter", p->port);
  return 0;
}

int pg_halt(pg_proc *p)
{
  if (!p->running)
    return 0;
  char bin[512];
  snprintf(bin, sizeof bin, "%s/pg_ctl", p->bindir);
  const char *argv[] = { bin, "-D", p->dir, "-m", "fast", "-w", "stop", NULL };
  p->running = 0;
  return run(argv);
}

int pg_resume(pg_proc *p)
{
  return p->running ? 0 : start_server(p);
}

void pg_stop(pg_proc *p)
{
  pg_halt(p);
  if (p->dir[0]) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
      fprintf(stderr, "pg_proc: could not remove %s\n", p->dir);
    p->dir[0] = '\0';
  }
}
