/*
 * PGSPLIT_ASSERT and the state-machine checks that use it. In a build with the checks
 * (configure --enable-debug or --enable-asan) an illegal server or client state change
 * aborts with "pgsplit: assertion failed" on stderr; in a build without them the
 * condition is not even evaluated. Each case runs in a child process so an abort is an
 * observable result, not the end of the test.
 */
#include "tap.h"
#include "client.h"
#include "pool.h"
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef PGSPLIT_ASSERTS
#define CHECKS_ON true
#else
#define CHECKS_ON false
#endif

/* Runs fn in a child with stderr captured; true if it aborted, its stderr in err. */
static bool child_aborts(void (*fn)(void), char *err, size_t errlen)
{
	int fds[2];
	if (pipe(fds) != 0)
		return false;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], err, errlen - 1);
	err[n > 0 ? n : 0] = 0;
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* A pool with empty state lists, as the registry makes one. */
static Pool *empty_pool(void)
{
	static Database db;
	static PoolUser user;
	return pool_create(&db, &user, NULL);
}

static void assert_false(void)
{
	PGSPLIT_ASSERT(1 + 1 == 3);
}

/* A closed server made idle: only a launch may take a server out of SV_CLOSED. */
static void server_closed_to_idle(void)
{
	Server *s = xcalloc(1, sizeof(*s));
	s->pool = empty_pool();
	list_init(&s->pool_node);
	s->state = SV_CLOSED;
	server_set_state(s, SV_IDLE);
}

/* An active client sent back to its welcome. */
static void client_active_to_welcome(void)
{
	Client *c = xcalloc(1, sizeof(*c));
	c->pool = empty_pool();
	list_init(&c->pool_node);
	c->state = CL_LOGIN;
	client_set_state(c, CL_ACTIVE);
	client_set_state(c, CL_WELCOME);
}

static void test_assert_macro(void)
{
	char err[512];
	CHECK(child_aborts(assert_false, err, sizeof(err)) == CHECKS_ON);
	CHECK(!CHECKS_ON || strstr(err, "pgsplit: assertion failed: 1 + 1 == 3") != NULL);
}

static void test_condition_not_evaluated_without_checks(void)
{
	int evaluated = 0;
	PGSPLIT_ASSERT(++evaluated > 0);
	CHECK(evaluated == (CHECKS_ON ? 1 : 0));
}

static void test_illegal_server_transition(void)
{
	char err[512];
	CHECK(child_aborts(server_closed_to_idle, err, sizeof(err)) == CHECKS_ON);
	CHECK(!CHECKS_ON || strstr(err, "server_transition_legal") != NULL);
}

static void test_illegal_client_transition(void)
{
	char err[512];
	CHECK(child_aborts(client_active_to_welcome, err, sizeof(err)) == CHECKS_ON);
	CHECK(!CHECKS_ON || strstr(err, "client_transition_legal") != NULL);
}

/* The legal path of a pooled server: connecting, login, idle, active, used, closed. */
static void test_legal_server_path(void)
{
	Server *s = xcalloc(1, sizeof(*s));
	Pool *p = empty_pool();
	s->pool = p;
	list_init(&s->pool_node);
	s->state = SV_CLOSED;
	const ServerState path[] = { SV_CONNECTING, SV_LOGIN, SV_IDLE, SV_ACTIVE, SV_USED,
				     SV_IDLE, SV_CLOSED };
	for (size_t i = 0; i < ARRAY_SIZE(path); i++)
		server_set_state(s, path[i]);
	CHECK(s->state == SV_CLOSED);
	CHECK(p->n_login == 0 && p->n_idle == 0 && p->n_active == 0 && p->n_used == 0);
	CHECK(list_empty(&p->idle_servers) && list_empty(&s->pool_node));
	free(p);
	free(s);
}

TAP_MAIN({ "assert_macro", test_assert_macro },
	 { "condition_not_evaluated_without_checks", test_condition_not_evaluated_without_checks },
	 { "illegal_server_transition", test_illegal_server_transition },
	 { "illegal_client_transition", test_illegal_client_transition },
	 { "legal_server_path", test_legal_server_path })
