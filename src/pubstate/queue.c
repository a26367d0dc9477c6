/*
 * queue.c - a FIFO of unique names: a doubly linked list threaded through
 * a chained hash table keyed by the name.
 */
#include "sipbridge/pubstate_queue.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pq_node {
    struct pq_node *prev, *next;   /* FIFO order */
    struct pq_node *chain;         /* hash bucket */
    uint32_t hash;
    char name[];
};

struct pubstate_queue {
    struct pq_node *head, *tail;
    struct pq_node **buckets;
    size_t nbuckets;               /* a power of two */
    size_t len;
};

#define PQ_MIN_BUCKETS 64

static uint32_t
pq_hash(const char *s)
{
    uint32_t h = 2166136261u;      /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int
pubstate_queue_create(struct pubstate_queue **out)
{
    struct pubstate_queue *q = calloc(1, sizeof(*q));

    if (q == NULL ||
        (q->buckets = calloc(PQ_MIN_BUCKETS, sizeof(*q->buckets))) == NULL) {
        free(q);
        return -ENOMEM;
    }
    q->nbuckets = PQ_MIN_BUCKETS;
    *out = q;
    return 0;
}

void
pubstate_queue_clear(struct pubstate_queue *q)
{
    struct pq_node *n, *next;

    for (n = q->head; n; n = next) {
        next = n->next;
        free(n);
    }
    memset(q->buckets, 0, q->nbuckets * sizeof(*q->buckets));
    q->head = q->tail = NULL;
    q->len = 0;
}

void
pubstate_queue_destroy(struct pubstate_queue *q)
{
    if (q == NULL)
        return;
    pubstate_queue_clear(q);
    free(q->buckets);
    free(q);
}

static struct pq_node **
pq_slot(const struct pubstate_queue *q, const char *name, uint32_t h)
{
    struct pq_node **pp = &q->buckets[h & (q->nbuckets - 1)];

    for (; *pp; pp = &(*pp)->chain)
        if ((*pp)->hash == h && strcmp((*pp)->name, name) == 0)
            break;
    return pp;
}

/* Doubling keeps chains short; a failed grow only costs speed. */
static void
pq_grow(struct pubstate_queue *q)
{
    size_t n = q->nbuckets * 2;
    struct pq_node **b = calloc(n, sizeof(*b));

    if (b == NULL)
        return;
    for (struct pq_node *x = q->head; x; x = x->next) {
        x->chain = b[x->hash & (n - 1)];
        b[x->hash & (n - 1)] = x;
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
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
    uint32_t h = pq_hash(name);
    struct pq_node **pp = pq_slot(q, name, h), *n = *pp;
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
    n->hash = h;
    *pp = n;
    pq_link(q, n, front);
    if (++q->len > q->nbuckets)
        pq_grow(q);
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
    struct pq_node *n = q->head, **pp;
    char *name;

    if (n == NULL)
        return NULL;
    name = strdup(n->name);
    if (name == NULL)
        return NULL;
    pp = pq_slot(q, n->name, n->hash);
    *pp = n->chain;
    pq_unlink(q, n);
    q->len--;
    free(n);
    return name;
}

int
pubstate_queue_contains(const struct pubstate_queue *q, const char *name)
{
    return *pq_slot(q, name, pq_hash(name)) != NULL;
}

size_t
pubstate_queue_len(const struct pubstate_queue *q)
{
    return q->len;
}
