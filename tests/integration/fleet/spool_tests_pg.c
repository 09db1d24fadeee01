/* The pipeline's spool tests (tests/unit/pipeline/test_pipeline_spool.c) run
 * against a PostgreSQL spool, except those that test what a fleet store does
 * differently on purpose (test_fleet_store.c covers those):
 *  - test_spool_belongs_to_one_back_end: one database holds the spools of
 *    several back ends side by side (namespaced), it does not refuse them;
 *  - test_sigkill_*: after a kill -9 the batch in flight is recovered once its
 *    lease has expired (any replica may be sending), not at once as with the
 *    single-sender lock of a SQLite spool. */
#include "test_util.h"

#include "renamed_main.h"

int main(void)
{
  cmocka_set_skip_filter("test_s*");
  return pipeline_tests_main();
}
