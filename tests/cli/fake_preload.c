/* A shared library with no effect, preloaded by the CLI tests in place of
 * libmemgroup.so. */
int mg_cli_fake_preload_marker(void) { return 42; }
