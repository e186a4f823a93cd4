#ifndef KUBETRAIL_CZLIB_SHIM_H
#define KUBETRAIL_CZLIB_SHIM_H
/* next_in becomes const, so Swift sees UnsafePointer. */
#define ZLIB_CONST 1
#include <zlib.h>

/* deflateInit2/inflateInit2 are function-like macros that Swift cannot import. */
static inline int czlib_deflate_init2(z_streamp s, int level, int windowBits) {
    return deflateInit2(s, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
static inline int czlib_inflate_init2(z_streamp s, int windowBits) {
    return inflateInit2(s, windowBits);
}
#endif
