/* Force-included into the pipeline's test files reused here: their main()
 * is renamed (-Dmain=pipeline_tests_main) so a wrapper can choose tests. */
int pipeline_tests_main(void);
