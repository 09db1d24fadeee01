#include "uuid.h"

#include <openssl/sha.h>
#include <string.h>

static void format_uuid(const unsigned char b[16], char out[MTR_UUID_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
  }
  out[o] = '\0';
}

int mtr_uuid4(const mtr_hooks *hooks, char out[MTR_UUID_LEN + 1])
{
  unsigned char b[16];
  if (mtr_random(hooks, b, sizeof b) != 0)
    return -1;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  format_uuid(b, out);
  return 0;
}

void mtr_uuid_from_name(const void *data, size_t len, char out[MTR_UUID_LEN + 1])
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 layout */
  md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
  format_uuid(md, out);
}

int mtr_uuid_valid(const char *s)
{
  if (!s || strlen(s) != MTR_UUID_LEN)
    return 0;
  for (int i = 0; i < MTR_UUID_LEN; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return 0;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return 0;
    }
  }
  return 1;
}
