#include "sandbox_proc.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *sandbox_binary(void)
{
  const char *env = getenv("METER_SANDBOX");
  return env && *env ? env : METER_BINARY_DIR "/tools/sandbox/meter-sandbox";
}

int sandbox_start(sandbox_proc *sp, const char *const *args)
{
  memset(sp, 0, sizeof *sp);
  int pipefd[2];
  if (pipe(pipefd) != 0)
    return -1;
  const char *argv[64];
  size_t n = 0;
  argv[n++] = sandbox_binary();
  argv[n++] = "--port";
  argv[n++] = "0";
  for (size_t i = 0; args && args[i] && n < 62; i++)
    argv[n++] = args[i];
  argv[n] = NULL;

  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[0]);
    close(pipefd[1]);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(pipefd[1]);
  FILE *out = fdopen(pipefd[0], "r");
  char line[256] = "";
  if (!out || !fgets(line, sizeof line, out)) {
    fprintf(stderr, "sandbox_start: %s printed nothing\n", argv[0]);
    if (out)
      fclose(out);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
  }
  fclose(out); /* the sandbox must not write more to stdout than that line */
  const char *u = strstr(line, "http://");
  if (!u || sscanf(u, "http://127.0.0.1:%d", &sp->port) != 1) {
    fprintf(stderr, "sandbox_start: unexpected first line: %s", line);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
  }
  sp->pid = pid;
  snprintf(sp->url, sizeof sp->url, "http://127.0.0.1:%d", sp->port);
  return 0;
}

void sandbox_stop(sandbox_proc *sp)
{
  if (sp->pid > 0) {
    kill(sp->pid, SIGTERM);
    int status;
    for (int i = 0; i < 200; i++) {
      if (waitpid(sp->pid, &status, WNOHANG) == sp->pid) {
        sp->pid = 0;
        return;
      }
      usleep(10000);
    }
    kill(sp->pid, SIGKILL);
    waitpid(sp->pid, &status, 0);
    sp->pid = 0;
  }
}

typedef struct grow {
  char *p;
  size_t n;
} grow;

static size_t on_data(char *d, size_t s, size_t m, void *ud)
{
  grow *g = ud;
  char *np = realloc(g->p, g->n + s * m + 1);
  if (!np)
    return 0;
  g->p = np;
  memcpy(g->p + g->n, d, s * m);
  g->n += s * m;
  g->p[g->n] = '\0';
  return s * m;
}

char *sandbox_request(sandbox_proc *sp, const char *method, const char *path, const char *body,
                      long *status)
{
  CURL *h = curl_easy_init();
  if (!h)
    return NULL;
  char url[512];
  snprintf(url, sizeof url, "%s%s", sp->url, path);
  grow g = { calloc(1, 1), 0 };
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &g);
  CURLcode rc = curl_easy_perform(h);
  long st = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  if (status)
    *status = rc == CURLE_OK ? st : 0;
  if (rc != CURLE_OK) {
    free(g.p);
    return NULL;
  }
  return g.p;
}

cJSON *sandbox_ledger(sandbox_proc *sp)
{
  long st;
  char *b = sandbox_request(sp, "GET", "/_sandbox/ledger", NULL, &st);
  cJSON *j = b && st == 200 ? cJSON_Parse(b) : NULL;
  free(b);
  return j;
}

int sandbox_fault(sandbox_proc *sp, const char *json)
{
  long st;
  char *b = sandbox_request(sp, "POST", "/_sandbox/faults", json, &st);
  free(b);
  return st == 200 ? 0 : -1;
}

int sandbox_reset(sandbox_proc *sp)
{
  long st;
  char *b = sandbox_request(sp, "POST", "/_sandbox/reset", "{}", &st);
  free(b);
  return st == 200 ? 0 : -1;
}
