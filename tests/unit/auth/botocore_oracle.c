#include "botocore_oracle.h"

#include "test_util.h"

#include "core/str.h"
#include "json/json.h"

#include <unistd.h>

#define SCRIPT METER_SOURCE_DIR "/tests/unit/auth/botocore_sigv4.py"

const char *botocore_sign_all(const oracle_req *reqs, size_t n, char (*auth)[ORACLE_AUTH_MAX],
                              char (*token)[ORACLE_AUTH_MAX])
{
  static char version[64];
  char in_path[] = "/tmp/meter-botocore-XXXXXX";
  int fd = mkstemp(in_path);
  assert_true(fd >= 0);
  FILE *in = fdopen(fd, "w");
  assert_non_null(in);
  for (size_t i = 0; i < n; i++) {
    const oracle_req *r = &reqs[i];
    cJSON *j = cJSON_CreateObject();
    mtr_buf b64 = MTR_BUF_INIT, line = MTR_BUF_INIT;
    mtr_base64_encode(&b64, r->body, r->body_len);
    mtr_json_add_str(j, "method", "POST");
    mtr_json_add_str(j, "url", r->url);
    cJSON *hs = cJSON_AddArrayToObject(j, "headers");
    const char *names[2] = { "Content-Type", "X-Amz-Target" };
    const char *values[2] = { r->content_type, r->target };
    for (size_t k = 0; k < 2; k++) {
      cJSON *pair = cJSON_CreateArray();
      cJSON_AddItemToArray(pair, cJSON_CreateString(names[k]));
      cJSON_AddItemToArray(pair, cJSON_CreateString(values[k]));
      cJSON_AddItemToArray(hs, pair);
    }
    mtr_json_add_str(j, "body_b64", mtr_buf_cstr(&b64));
    mtr_json_add_str(j, "region", r->region);
    mtr_json_add_str(j, "service", r->service ? r->service : "aws-marketplace");
    mtr_json_add_str(j, "amz_date", r->amz_date);
    mtr_json_add_str(j, "akid", r->akid);
    mtr_json_add_str(j, "secret", r->secret);
    if (r->token)
      mtr_json_add_str(j, "token", r->token);
    mtr_json_print(j, &line);
    fprintf(in, "%s\n", mtr_buf_cstr(&line));
    mtr_buf_dispose(&line);
    mtr_buf_dispose(&b64);
    cJSON_Delete(j);
  }
  fclose(in);

  char cmd[1024];
  snprintf(cmd, sizeof cmd, "python3 '%s' < '%s'", SCRIPT, in_path);
  FILE *out = popen(cmd, "r");
  assert_non_null(out);
  char line[2048];
  size_t got = 0;
  version[0] = '\0';
  while (fgets(line, sizeof line, out)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "NO_BOTOCORE", 11) == 0) {
      pclose(out);
      unlink(in_path);
      fail_msg("botocore cannot be imported (%s): install python3-botocore", line);
    }
    if (strncmp(line, "botocore ", 9) == 0) {
      mtr_strlcpy(version, line, sizeof version);
      continue;
    }
    assert_true(got < n);
    char *tab = strchr(line, '\t');
    assert_non_null(tab);
    *tab = '\0';
    assert_true(strlen(line) < ORACLE_AUTH_MAX && strlen(tab + 1) < ORACLE_AUTH_MAX);
    mtr_strlcpy(auth[got], line, ORACLE_AUTH_MAX);
    mtr_strlcpy(token[got], tab + 1, ORACLE_AUTH_MAX);
    got++;
  }
  int st = pclose(out);
  unlink(in_path);
  assert_int_equal(st, 0);
  assert_int_equal(got, n);
  assert_true(version[0] != '\0');
  return version;
}
