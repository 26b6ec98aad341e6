/*
 * The one Runtime (see runtime.h), defined in the library so that the daemon, the unit
 * tests and the fuzz targets link the same modules as they are.
 */
#include "runtime.h"

Runtime rt = {
	.databases = LIST_INIT(rt.databases),
	.users = LIST_INIT(rt.users),
	.pools = LIST_INIT(rt.pools),
	.clients = LIST_INIT(rt.clients),
	.servers = LIST_INIT(rt.servers),
};
