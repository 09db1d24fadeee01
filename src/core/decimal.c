#include "decimal.h"

#include <string.h>

int mtr_decimal_canon(const char *s, size_t len, char *out, size_t out_size, mtr_decimal_info *info)
{
  mtr_decimal_info inf = { 0 };
  size_t i = 0, int_start, int_end, frac_start = 0, frac_end = 0;
  if (len == 0)
    return -1;
  int_start = i;
  while (i < len && s[i] >= '0' && s[i] <= '9')
    i++;
  int_end = i;
  if (int_end == int_start)
    return -1; /* ".5" and "" are not accepted: write "0.5" */
  if (i < len && s[i] == '.') {
    i++;
    frac_start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
    frac_end = i;
    if (frac_end == frac_start)
      return -1; /* "5." */
  }
  if (i != len)
    return -1;

  while (int_start + 1 < int_end && s[int_start] == '0')
    int_start++;
  while (frac_end > frac_start && s[frac_end - 1] == '0')
    frac_end--;

  size_t ni = int_end - int_start, nf = frac_end - frac_start;
  if (ni + nf + 2 > out_size)
    return -1;
  memcpy(out, s + int_start, ni);
  size_t o = ni;
  if (nf) {
    out[o++] = '.';
    memcpy(out + o, s + frac_start, nf);
    o += nf;
  }
  out[o] = '\0';

  inf.int_digits = (ni == 1 && out[0] == '0') ? 0 : ni;
  inf.frac_digits = nf;
  inf.is_integer = nf == 0;
  inf.is_zero = inf.int_digits == 0 && nf == 0;
  if (inf.is_integer && ni <= 19) {
    uint64_t v = 0;
    int overflow = 0;
    for (size_t k = 0; k < ni; k++) {
      unsigned dgt = (unsigned)(out[k] - '0');
      if (v > (UINT64_C(9223372036854775807) - dgt) / 10) {
        overflow = 1;
        break;
      }
      v = v * 10 + dgt;
    }
    if (!overflow) {
      inf.fits_int64 = 1;
      inf.value = (int64_t)v;
    }
  }
  if (info)
    *info = inf;
  return 0;
}

int mtr_add_int64(int64_t a, int64_t b, int64_t *out)
{
  if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
    return -1;
  *out = a + b;
  return 0;
}
