/*
 * The routing decision: from what the client's pending messages say, the
 * client's session state and the database's routing mode, decide primary or replica, and
 * pick a healthy replica. Pure: no I/O, no allocation; unit-testable without sockets.
 */
#ifndef PGSPLIT_ROUTER_H
#define PGSPLIT_ROUTER_H

#include "classify.h"
#include "pool.h"

#define ROUTE_REASONS(X)                                           \
	X(ROUTE_CLASSIFIED_READ, "classified_read")                \
	X(ROUTE_DECLARED_READ_ONLY, "declared_read_only")          \
	X(ROUTE_HINT, "hint")                                      \
	X(ROUTE_ROUTING_REPLICA, "routing_replica")                \
	X(ROUTE_WRITE, "write")                                    \
	X(ROUTE_EXPLICIT_TRANSACTION, "explicit_transaction")      \
	X(ROUTE_UNSURE, "classifier_unsure")                       \
	X(ROUTE_NO_REPLICA, "no_replica")                          \
	X(ROUTE_SESSION_MODE, "session_mode")                      \
	X(ROUTE_READ_YOUR_WRITES, "read_your_writes")              \
	X(ROUTE_RETRY_25006, "retry_25006")                        \
	X(ROUTE_PREPARE_ONLY, "prepare_only")                      \
	X(ROUTE_ROUTING_PRIMARY, "routing_primary")                \
	X(ROUTE_RETRY_SERVER_LOST, "retry_server_lost")

typedef enum {
#define ROUTE_ENUM_(name, str) name,
	ROUTE_REASONS(ROUTE_ENUM_)
#undef ROUTE_ENUM_
		ROUTE_REASON_COUNT
} RouteReason;

typedef struct RouteRequest {
	RoutingMode routing;
	bool session_mode;       /* session pooling: the client keeps one server, the primary */
	bool default_read_only;  /* the client's default_transaction_read_only is on */
	bool classified;         /* cls is valid (false: could not see the whole batch) */
	bool prepare_only;       /* an extended batch without Execute: it reads nothing */
	ClassifyResult cls;
} RouteRequest;

typedef struct RouteDecision {
	bool to_replica;
	RouteReason reason;
} RouteDecision;

RouteDecision router_decide(const RouteRequest *req);

/* replica_lb, in the order of its names in the settings table (Config.replica_lb_mode). */
typedef enum { LB_ROUND_ROBIN, LB_RANDOM, LB_LEAST_CONNECTIONS, LB_LEAST_LAG } LoadBalance;

/*
 * A replica in rotation now (UP, or DOWN whose retry time has come, weight > 0) that
 * has replayed at least min_lsn (0: any), or NULL.
 */
Replica *router_pick_replica(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn);
/*
 * The same, with the primary as one more candidate of weight primary_weight (> 0):
 * returns false when nothing qualifies; *out NULL then means "the primary".
 */
bool router_pick_reader(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn, int primary_weight,
			Replica **out);
/* The same with one replica left out (NULL: none): a read re-run after losing it. */
bool router_pick_reader_except(Database *db, LoadBalance lb, usec_t now, uint64_t min_lsn, int primary_weight,
			       const Replica *except, Replica **out);
bool router_replica_usable(const Replica *r, usec_t now);
/* Is any replica of db in rotation now (weight > 0)? Does not move round-robin state. */
bool router_any_usable(const Database *db, usec_t now);
const char *router_reason_name(RouteReason reason);
const char *router_replica_state_name(ReplicaState state);
/* "primary" once a replica left recovery (promoted), else "replica". */
const char *router_replica_role_name(const Replica *replica);

#endif
