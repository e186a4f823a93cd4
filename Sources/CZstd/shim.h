#ifndef KUBETRAIL_CZSTD_SHIM_H
#define KUBETRAIL_CZSTD_SHIM_H
#include <zstd.h>
#endif
