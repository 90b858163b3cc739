/* A library named libmimalloc.so.2 that is not mimalloc (no mi_version):
 * found through LD_PRELOAD's neighbour LD_LIBRARY_PATH, it shows which
 * libmimalloc.so.2 the mimalloc engine opened. */
int not_mimalloc(void) { return 0; }
