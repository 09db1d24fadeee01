/* Grouping equal strings in O(n log n): the AppDirect back end groups events
 * by account and folds records that share an idempotency key, for batches of
 * up to 250 where pairwise comparison cost more than the request. */
#ifndef MTR_CORE_GROUP_H
#define MTR_CORE_GROUP_H

#include <stddef.h>

/* For n strings (none NULL): leader[i] = the smallest index whose string
 * equals keys[i] (so leader[i] == i marks the first of a group); order, when
 * not NULL, receives the indices sorted by string and then by index, so each
 * group's members are contiguous and in their original order. Returns 0, or
 * METER_ENOMEM. */
int mtr_group_strings(const char *const *keys, size_t n, size_t *leader, size_t *order);

#endif
