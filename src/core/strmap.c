/*
 * strmap.c - a string-keyed hash of pointers (chained, doubling).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipbridge/strmap.h"

struct strmap_entry {
    struct strmap_entry *next;
    uint32_t hash;
    void *val;
    char key[];
};

struct strmap {
    struct strmap_entry **b;
    size_t nb, n;
};

static uint32_t
strmap_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int
strmap_create(struct strmap **out)
{
    struct strmap *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->b = calloc(64, sizeof(*m->b))) == NULL) {
        free(m);
        return -ENOMEM;
    }
    m->nb = 64;
    *out = m;
    return 0;
}

void
strmap_destroy(struct strmap *m, void (*free_val)(void *))
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        for (struct strmap_entry *e = m->b[i], *next; e; e = next) {
            next = e->next;
            if (free_val)
                free_val(e->val);
            free(e);
        }
    }
    free(m->b);
    free(m);
}

static struct strmap_entry **
strmap_slot(const struct strmap *m, const char *key, uint32_t h)
{
    struct strmap_entry **pp = &m->b[h & (m->nb - 1)];

    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void
strmap_grow(struct strmap *m)
{
    size_t nb = m->nb * 2;
    struct strmap_entry **b = calloc(nb, sizeof(*b));

    if (b == NULL)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        for (struct strmap_entry *e = m->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

int
strmap_put(struct strmap *m, const char *key, void *val)
{
    uint32_t h = strmap_hash(key);
    struct strmap_entry **pp = strmap_slot(m, key, h), *e;
    size_t len = strlen(key) + 1;

    if (*pp) {
        (*pp)->val = val;
        return 0;
    }
    if ((e = malloc(sizeof(*e) + len)) == NULL)
        return -ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->val = val;
    memcpy(e->key, key, len);
    *pp = e;
    if (++m->n > m->nb)
        strmap_grow(m);
    return 0;
}

void *
strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry *e = *strmap_slot(m, key, strmap_hash(key));

    return e ? e->val : NULL;
}

void
strmap_del(struct strmap *m, const char *key)
{
    struct strmap_entry **pp = strmap_slot(m, key, strmap_hash(key)), *e;

    if ((e = *pp) == NULL)
        return;
    *pp = e->next;
    m->n--;
    free(e);
}

size_t
strmap_size(const struct strmap *m)
{
    return m->n;
}
