/*
 * Intrusive circular doubly-linked list. A List is both the head and the node; an
 * object can sit on one list per embedded List member. Empty list: next == prev == self.
 */
#ifndef PGSPLIT_LIST_H
#define PGSPLIT_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct List {
	struct List *next;
	struct List *prev;
} List;

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(List *l)
{
	l->next = l;
	l->prev = l;
}

static inline bool list_empty(const List *l)
{
	return l->next == l;
}

static inline void list_append(List *head, List *node)
{
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

static inline void list_prepend(List *head, List *node)
{
	node->next = head->next;
	node->prev = head;
	head->next->prev = node;
	head->next = node;
}

static inline void list_del(List *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	list_init(node);
}

static inline List *list_first(const List *head)
{
	return list_empty(head) ? NULL : head->next;
}

static inline List *list_pop(List *head)
{
	List *n = list_first(head);
	if (n)
		list_del(n);
	return n;
}

#define list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
