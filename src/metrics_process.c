/*
 * The process figures of /metrics, under the names Prometheus client libraries use
 * (process_*), read from /proc/self, getrlimit and getrusage at each scrape.
 */
#include "metrics.h"

#include "runtime.h"
#include "textbuf.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Resident and virtual size in bytes from /proc/self/statm; false where there is none. */
static bool memory_sizes(unsigned long long *rss, unsigned long long *vsz)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return false;
	unsigned long long pages_v, pages_r;
	bool ok = fscanf(f, "%llu %llu", &pages_v, &pages_r) == 2;
	fclose(f);
	long page = sysconf(_SC_PAGESIZE);
	*rss = pages_r * (unsigned long long)page;
	*vsz = pages_v * (unsigned long long)page;
	return ok;
}

static void process_gauge(TextBuf *b, const char *name, const char *help, unsigned long long v)
{
	metrics_family_header(b, name, "gauge", help);
	textbuf_printf(b, "%s %llu\n", name, v);
}

void metrics_render_process(TextBuf *b)
{
	int fds = count_open_fds();
	struct rlimit rl;
	unsigned long long rss, vsz;
	struct rusage ru;
	if (fds >= 0)
		process_gauge(b, "process_open_fds", "Open file descriptors", (unsigned long long)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		process_gauge(b, "process_max_fds", "Limit of open file descriptors", (unsigned long long)rl.rlim_cur);
	if (memory_sizes(&rss, &vsz)) {
		process_gauge(b, "process_resident_memory_bytes", "Resident memory size", rss);
		process_gauge(b, "process_virtual_memory_bytes", "Virtual memory size", vsz);
	}
	metrics_family_header(b, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch");
	textbuf_str(b, "process_start_time_seconds ");
	textbuf_decimal(b, (unsigned long long)rt.start_time, 6);
	textbuf_put(b, "\n", 1);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		unsigned long long usec = (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
					  (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		metrics_family_header(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent");
		textbuf_str(b, "process_cpu_seconds_total ");
		textbuf_decimal(b, usec, 6);
		textbuf_put(b, "\n", 1);
	}
}

