/*
 * /metrics renders in slices: steps of metrics_render_step() are run until a slice has
 * used METRICS_SLICE_USEC, then a zero-delay timer brings the next slice. Timers run
 * after the loop has polled the sockets, so a client's query that arrives during a
 * render waits for at most one slice (plus the step running when the slice ran out),
 * not for the whole render. A small exposition fits in the first slice and is answered
 * at once.
 */
#include "http_metrics.h"

#include "list.h"
#include "metrics.h"

#include <stdlib.h>

#define METRICS_SLICE_USEC 200

typedef struct MetricsJob {
	List node; /* in jobs */
	struct evhttp_request *req;
	MetricsRender *render;
	struct event *tick;
	RenderTimes times; /* of this render so far */
	HttpMetricsSend send;
} MetricsJob;

static List jobs = LIST_INIT(jobs);

/* The previous render's times; the next one reports them. */
static RenderTimes last_times;

static void job_free(MetricsJob *job)
{
	list_del(&job->node);
	if (job->render)
		metrics_render_abort(job->render);
	if (job->tick)
		event_free(job->tick);
	free(job);
}

static void job_finish(MetricsJob *job)
{
	size_t len;
	char *text = metrics_render_finish(job->render, &len);
	job->render = NULL;
	last_times = job->times;
	job->send(job->req, text, len);
	job_free(job);
}

static void job_slice(evutil_socket_t fd, short what, void *arg)
{
	MetricsJob *job = arg;
	(void)fd;
	(void)what;
	usec_t start = time_now_mono(), now = start;
	bool done = false;
	while (!done && now - start < METRICS_SLICE_USEC) {
		done = metrics_render_step(job->render);
		now = time_now_mono();
	}
	job->times.total += now - start;
	if (now - start > job->times.longest_slice)
		job->times.longest_slice = now - start;
	if (done) {
		job_finish(job);
		return;
	}
	static const struct timeval next_turn = { 0, 0 };
	event_add(job->tick, &next_turn);
}

void http_metrics_serve(struct evhttp_request *req, struct event_base *base, HttpMetricsSend send)
{
	MetricsJob *job = xcalloc(1, sizeof(*job));
	list_append(&jobs, &job->node);
	job->req = req;
	job->send = send;
	job->render = metrics_render_start(&last_times);
	job->tick = evtimer_new(base, job_slice, job);
	if (!job->tick) {
		/* no timer: render in one go rather than not at all */
		while (!metrics_render_step(job->render))
			;
		job_finish(job);
		return;
	}
	job_slice(-1, 0, job);
}

void http_metrics_cancel_all(void)
{
	while (!list_empty(&jobs))
		job_free(container_of(list_first(&jobs), MetricsJob, node));
}
