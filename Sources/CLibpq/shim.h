#ifndef KUBETRAIL_CLIBPQ_SHIM_H
#define KUBETRAIL_CLIBPQ_SHIM_H
// Debian's libpq-dev puts the client header under postgresql/; it finds postgres_ext.h beside itself.
#include <postgresql/libpq-fe.h>
#endif
