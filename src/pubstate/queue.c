/*
 * queue.c - a FIFO of unique names: a doubly linked list of nodes, found
 * by name in a strmap.
 */
#include "sipbridge/pubstate_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sipbridge/strmap.h"

struct pq_node {
    struct pq_node *prev, *next;   /* FIFO order */
    char name[];
};

struct pubstate_queue {
    struct pq_node *head, *tail;
    struct strmap *index;          /* name -> node */
};

int
pubstate_queue_create(struct pubstate_queue **out)
{
    struct pubstate_queue *q = calloc(1, sizeof(*q));

    if (q == NULL || strmap_create(&q->index) < 0) {
        free(q);
        return -ENOMEM;
    }
    *out = q;
    return 0;
}

void
pubstate_queue_clear(struct pubstate_queue *q)
{
    struct pq_node *n, *next;

    for (n = q->head; n; n = next) {
        next = n->next;
        strmap_del(q->index, n->name);
        free(n);
    }
    q->head = q->tail = NULL;
}

void
pubstate_queue_destroy(struct pubstate_queue *q)
{
    if (q == NULL)
        return;
    pubstate_queue_clear(q);
    strmap_destroy(q->index, NULL);
    free(q);
}

static void
pq_unlink(struct pubstate_queue *q, struct pq_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    n->prev = n->next = NULL;
}

static void
pq_link(struct pubstate_queue *q, struct pq_node *n, int front)
{
    if (front) {
        n->next = q->head;
        if (q->head)
            q->head->prev = n;
        else
            q->tail = n;
        q->head = n;
    } else {
        n->prev = q->tail;
        if (q->tail)
            q->tail->next = n;
        else
            q->head = n;
        q->tail = n;
    }
}

static int
pq_add(struct pubstate_queue *q, const char *name, int front)
{
    struct pq_node *n = strmap_get(q->index, name);
    size_t len;

    if (n != NULL) {
        if (front) {
            pq_unlink(q, n);
            pq_link(q, n, 1);
        }
        return 0;
    }
    len = strlen(name) + 1;
    n = calloc(1, sizeof(*n) + len);
    if (n == NULL)
        return -ENOMEM;
    memcpy(n->name, name, len);
    if (strmap_put(q->index, n->name, n) < 0) {
        free(n);
        return -ENOMEM;
    }
    pq_link(q, n, front);
    return 1;
}

int
pubstate_queue_push(struct pubstate_queue *q, const char *name)
{
    return pq_add(q, name, 0);
}

int
pubstate_queue_push_front(struct pubstate_queue *q, const char *name)
{
    int rc = pq_add(q, name, 1);

    return rc < 0 ? rc : 0;
}

char *
pubstate_queue_pop(struct pubstate_queue *q)
{
    struct pq_node *n = q->head;
    char *name;

    if (n == NULL)
        return NULL;
    name = strdup(n->name);
    if (name == NULL)
        return NULL;
    strmap_del(q->index, n->name);
    pq_unlink(q, n);
    free(n);
    return name;
}

int
pubstate_queue_contains(const struct pubstate_queue *q, const char *name)
{
    return strmap_get(q->index, name) != NULL;
}

size_t
pubstate_queue_len(const struct pubstate_queue *q)
{
    return strmap_size(q->index);
}
