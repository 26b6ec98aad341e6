/*
 * GET /metrics answered in slices of the event loop's time, so that clients of the
 * pooler are served between slices of a large exposition.
 */
#ifndef PGSPLIT_HTTP_METRICS_H
#define PGSPLIT_HTTP_METRICS_H

#include "common.h"

#include <event2/event.h>
#include <event2/http.h>

/* How the finished exposition (malloc'd, handed over) goes back to the request. */
typedef void (*HttpMetricsSend)(struct evhttp_request *req, char *text, size_t len);

/* Start rendering for req; send is called once it is complete, from a later loop turn for a large one. */
void http_metrics_serve(struct evhttp_request *req, struct event_base *base, HttpMetricsSend send);

/* Drop every unfinished render without answering (the listener is closing, taking its requests). */
void http_metrics_cancel_all(void);

#endif
